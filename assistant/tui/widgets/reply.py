"""A reply being generated: the message that streams itself, and the worker that feeds it.

llama.cpp blocks, so the reply runs in a thread worker that hands its pieces over through
an `Outbox`; the view appends them as they come. The view knows nothing of the history:
it posts `Done` or `Failed` and the screen stores the result and calls `finish`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from textual import on, work
from textual.message import Message
from textual.worker import get_current_worker

from assistant.chat import Attachment, ChatConfig, Turn, start_reply
from assistant.tui.widgets.messages import MessageView

if TYPE_CHECKING:
    from assistant.engine import Engine
    from assistant.generation import GenerationStats


class Outbox:
    """Streamed text on its way from the worker thread to the view.

    The worker posts a message only when the outbox goes from empty to non-empty, and the
    view takes everything waiting at once: a fast model's pieces are rendered a batch
    per frame instead of a message per token (the UI would fall behind), and a slow
    model's piece is shown the moment it arrives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def put(self, text: str) -> bool:
        """Add text; True when the view must be told (the outbox was empty)."""
        with self._lock:
            self._parts.append(text)
            return len(self._parts) == 1

    def take(self) -> str:
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return text


@dataclass(frozen=True)
class ReplyRequest:
    """Everything one reply is generated from, fixed when it starts."""

    engine: "Engine"
    mode: str
    turns: Sequence[Turn]
    system: str
    attachments: Sequence[Attachment]
    config: ChatConfig


class ReplyView(MessageView):
    """The assistant's message while it is generated; `generate` starts it, `cancel` stops it."""

    class Pieces(Message, bubble=False):
        """New text is waiting in the outbox (handled by the view itself)."""

    @dataclass
    class Done(Message):
        text: str
        stats: "GenerationStats"

    @dataclass
    class Failed(Message):
        error: str

    def __init__(self, *, mode: str) -> None:
        super().__init__("assistant", mode=mode)
        self._cancel = threading.Event()
        self._outbox = Outbox()

    def cancel(self) -> None:
        """Stop generating; the text so far is kept (the worker ends with `Done`)."""
        self._cancel.set()

    @work(thread=True, exclusive=True, group="reply")
    def generate(self, request: ReplyRequest) -> None:
        worker = get_current_worker()
        try:
            generation = start_reply(
                request.engine, request.mode, request.turns, system=request.system,
                attachments=request.attachments, config=request.config,
                should_cancel=lambda: self._cancel.is_set() or worker.is_cancelled,
            )
            for piece in generation:
                if self._outbox.put(piece):
                    self.post_message(self.Pieces())
        except Exception as error:  # any failure ends this reply, never the conversation
            self.post_message(self.Failed(str(error) or type(error).__name__))
            return
        self.post_message(self.Done(generation.text, generation.stats))

    @on(Pieces)
    async def _pieces(self) -> None:
        text = self._outbox.take()
        if text:
            await self.write(text)
