"""The conversation log: one MessageView per message, streamed replies included."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Markdown
from textual.widgets.markdown import MarkdownStream

from assistant.chat import COMPLETION, display_markdown

#: Role -> the name shown above a message.
SPEAKERS = {"user": "You", "assistant": "Cove"}
#: Stop reasons worth telling the user about -> the note shown after the speaker.
STOP_NOTES = {"cancelled": "stopped", "max_tokens": "length limit", "time": "time limit"}


class MessageView(Vertical):
    """One message: who said it, and its Markdown (code blocks highlighted)."""

    def __init__(self, role: str, content: str = "", *, mode: str, message_id: int | None = None) -> None:
        super().__init__(classes=role, id=f"message-{message_id}" if message_id is not None else None)
        self.role = role
        self.mode = mode
        self._content = content
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Label(SPEAKERS[self.role], classes="speaker")
        yield Markdown(display_markdown(self._content, self.mode))

    async def start_stream(self) -> None:
        """Begin appending streamed text; MarkdownStream batches fragments that arrive
        faster than they render, and only the last block is re-parsed per append.
        Completion-mode code streams inside an open fence; `finish` closes it."""
        markdown = self.query_one(Markdown)
        if self.mode == COMPLETION:
            await markdown.update("```\n")
        self._stream = Markdown.get_stream(markdown)

    async def write(self, fragment: str) -> None:
        if self._stream is not None:
            await self._stream.write(fragment)

    async def finish(self, content: str, stop_reason: str = "", message_id: int | None = None) -> None:
        """End the stream and render the final text once in full (a streamed fence can be
        left half-parsed), then note how the reply ended."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self._content = content
        if message_id is not None:
            self.id = f"message-{message_id}"
        await self.query_one(Markdown).update(display_markdown(content, self.mode) if content else "*(no output)*")
        note = STOP_NOTES.get(stop_reason)
        if note:
            self.query_one(".speaker", Label).update(f"{SPEAKERS[self.role]} · {note}")


class ChatLog(VerticalScroll):
    """The scrolling list of messages; anchored so it follows a streaming reply while
    the user is at the bottom and stays put once they scroll up to read."""

    def on_mount(self) -> None:
        self.anchor()

    async def show(self, views: list[MessageView]) -> None:
        """Replace the log with these messages."""
        await self.remove_children()
        await self.mount_all(views)
        self.scroll_end(animate=False, immediate=True)
