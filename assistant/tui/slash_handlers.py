"""What the chat screen's slash commands do: one `_slash_NAME` method per row of SLASH_COMMANDS.

A part of `ChatScreen` (its state lives on the screen). `/model` loads the new model in a
thread worker, since loading blocks, and swaps it in when the worker reports back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable

from textual import on, work
from textual.message import Message
from textual.screen import Screen

from assistant.chat import (
    MODE_LABELS,
    Attachment,
    ChatConfig,
    choose_mode,
    code_blocks,
    parse_sampling_setting,
    read_attachment,
)
from assistant.errors import CoveError
from assistant.store import Store, StoredMessage, export_conversation
from assistant.tui.slash import SLASH_COMMANDS
from assistant.tui.screens.prompt import PromptScreen
from assistant.tui.widgets.prompt_input import PLACEHOLDERS, PromptInput

if TYPE_CHECKING:
    from assistant.engine import Engine


class SlashCommandHandlers(Screen[None]):
    """Runs `/name argument` lines; a CoveError raised here becomes a one-line notification."""

    _store: Store
    _engine: "Engine"
    _load_engine: Callable[[Path], "Engine"]
    _config: ChatConfig
    _cwd: Path
    _mode: str
    _conversation_id: int | None
    _system: str
    _attachments: list[Attachment]
    _last_stats: dict | None
    _loading_model: bool
    _guarded: Callable[[Callable[[], Awaitable[object]]], Awaitable[None]]
    _refuse_while_busy: Callable[[], None]
    _set_activity: Callable[[str], None]
    _refresh_status: Callable[[], None]
    _messages: Callable[[], list[StoredMessage]]
    _new_conversation: Callable[[], Awaitable[None]]
    action_help: Callable[[], None]

    @dataclass
    class ModelLoaded(Message):
        engine: "Engine"
        mode: str

    @dataclass
    class ModelFailed(Message):
        error: str

    async def run_slash(self, name: str, argument: str) -> None:
        """Run a parsed command (`parse_slash` has checked the name and argument)."""
        await getattr(self, f"_slash_{name}")(argument)

    def action_ask(self, name: str) -> None:
        """Ask for a slash command's argument in a dialog (for the command palette)."""
        usage = next(c.usage for c in SLASH_COMMANDS if c.name == name)

        async def run(argument: str | None) -> None:
            if argument is not None:
                await self._guarded(lambda: self.run_slash(name, argument))

        self.app.push_screen(PromptScreen(usage), run)

    async def _slash_add(self, spec: str) -> None:
        attachment = read_attachment(spec, self._engine, self._cwd)
        self._attachments = [a for a in self._attachments if a.name != attachment.name] + [attachment]
        self._refresh_status()
        self.notify(f"attached {attachment.name} ({attachment.tokens} tokens)")

    async def _slash_drop(self, name: str) -> None:
        if not self._attachments:
            raise CoveError("nothing is attached: /add FILE attaches one")
        if name and all(a.name != name for a in self._attachments):
            attached = ", ".join(a.name for a in self._attachments)
            raise CoveError(f"{name} is not attached; attached: {attached}")
        dropped = [a.name for a in self._attachments if not name or a.name == name]
        self._attachments = [a for a in self._attachments if name and a.name != name]
        self._refresh_status()
        self.notify(f"dropped {', '.join(dropped)}")

    async def _slash_model(self, path: str) -> None:
        self._refuse_while_busy()
        self._loading_model = True
        self._set_activity(f"loading {Path(path).name}…")
        self._switch_model((self._cwd / Path(path).expanduser()).resolve())

    @work(thread=True, exclusive=True, group="model")
    def _switch_model(self, path: Path) -> None:
        try:
            engine = self._load_engine(path)
        except CoveError as error:
            self.post_message(self.ModelFailed(str(error)))
            return
        try:
            mode = choose_mode(engine, self._config.mode)
        except CoveError as error:
            engine.close()
            self.post_message(self.ModelFailed(str(error)))
            return
        self.post_message(self.ModelLoaded(engine, mode))

    @on(ModelLoaded)
    def _model_loaded(self, message: ModelLoaded) -> None:
        old, self._engine, self._mode = self._engine, message.engine, message.mode
        self._loading_model = False
        old.close()
        # Attachments were counted with the old tokenizer.
        self._attachments = [
            Attachment(a.name, a.text, len(self._engine.tokenize(a.text))) for a in self._attachments
        ]
        self._last_stats = None
        self.query_one(PromptInput).placeholder = PLACEHOLDERS[self._mode]
        self._set_activity("")
        self.query("#notice").remove()  # it was about the model just replaced
        self.notify(f"switched to {self._engine.model_name}: {MODE_LABELS[self._mode]} mode")

    @on(ModelFailed)
    def _model_failed(self, message: ModelFailed) -> None:
        self._loading_model = False
        self._set_activity("")
        self.notify(message.error, severity="error", timeout=10)

    async def _slash_system(self, text: str) -> None:
        self._system = text
        if self._conversation_id is not None:
            self._store.set_system(self._conversation_id, text)
        self.notify("system prompt set" if text else "system prompt cleared")

    async def _slash_set(self, argument: str) -> None:
        """Change one sampling setting of the mode in use (the other mode keeps its own)."""
        change = parse_sampling_setting(argument)
        self._config = self._config.with_sampling(change, self._mode)
        self._refresh_status()
        self.notify(f"{MODE_LABELS[self._mode]} samples with {self._config.sampling(self._mode).label()}")

    async def _slash_copy(self, argument: str) -> None:
        reply = next((m for m in reversed(self._messages()) if m.role == "assistant"), None)
        if reply is None:
            raise CoveError("there is no reply to copy from yet")
        blocks = code_blocks(reply.content, reply.mode)
        if not argument.isdigit() and argument:
            raise CoveError(f"/copy takes a code block number, not {argument!r}: /copy 1")
        number = int(argument or 1)
        if not 1 <= number <= len(blocks):
            raise CoveError(f"the last reply has {len(blocks)} code block(s): use /copy 1..{len(blocks)}")
        self.app.copy_to_clipboard(blocks[number - 1])
        self.notify(f"copied code block {number} ({len(blocks[number - 1].splitlines())} lines)")

    async def _slash_export(self, path: str) -> None:
        if self._conversation_id is None:
            raise CoveError("there is no conversation to export yet")
        target = export_conversation(self._store, self._conversation_id, self._cwd / Path(path).expanduser())
        self.notify(f"exported to {target}")

    async def _slash_clear(self, _: str) -> None:
        await self._new_conversation()

    async def _slash_help(self, _: str) -> None:
        self.action_help()
