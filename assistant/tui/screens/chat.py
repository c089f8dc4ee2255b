"""The chat screen: conversations on the left, the log and the input on the right.

The screen owns the conversation state and the model; widgets only post messages. A
reply runs in a thread worker (llama.cpp blocks) that hands its pieces over through an
`Outbox`; the screen appends them to the streaming message and re-renders it once in
full at the end. Every user message is committed to the history before its reply
starts, so a killed app loses nothing shown as sent.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import get_current_worker

from assistant.chat import (
    CURSOR,
    MODE_LABELS,
    Attachment,
    ChatConfig,
    choose_mode,
    code_blocks,
    read_attachment,
    start_reply,
)
from assistant.errors import CoveError
from assistant.store import SearchHit, Store, StoredMessage, export_conversation
from assistant.tui.screens.confirm import ConfirmScreen
from assistant.tui.screens.help import HelpScreen
from assistant.tui.screens.prompt import PromptScreen
from assistant.tui.screens.search import SearchScreen
from assistant.tui.slash import SLASH_COMMANDS, parse_slash
from assistant.tui.widgets.messages import ChatLog, MessageView
from assistant.tui.widgets.prompt_input import PromptInput
from assistant.tui.widgets.sidebar import ConversationList
from assistant.tui.widgets.status import Status, StatusBar

if TYPE_CHECKING:
    from assistant.engine import Engine, GenerationStats

#: Longest conversation title taken from its first message.
TITLE_LENGTH = 48
#: Mode -> what the empty input says.
PLACEHOLDERS = {
    "chat": "Message (Enter sends, Shift+Enter or Ctrl+J new line, /help for commands)",
    "completion": f"Completion mode: type code to continue, or mark a gap with {CURSOR} (Enter sends)",
}
#: Command palette entries: title, help, action.
PALETTE = (
    ("New conversation", "Start a fresh conversation", "new_conversation"),
    ("Regenerate reply", "Replace the last reply with a new one", "regenerate"),
    ("Edit last message", "Load your last message into the input to change and resend it", "edit_last"),
    ("Search conversations", "Find messages across all conversations", "search"),
    ("Export conversation", "Write this conversation to Markdown or JSON", "export"),
    ("Attach file", "Add a file or line range as context (/add)", "ask('add')"),
    ("Switch model", "Load another GGUF model (/model)", "ask('model')"),
    ("Set system prompt", "Set this conversation's system prompt (/system)", "ask('system')"),
    ("Help", "Show keys and commands", "help"),
)


class Outbox:
    """Streamed text on its way from the worker thread to the screen.

    The worker posts a message only when the outbox goes from empty to non-empty, and the
    screen takes everything waiting at once: a fast model's pieces are rendered a batch
    per frame instead of a message per token (the UI would fall behind), and a slow
    model's piece is shown the moment it arrives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def put(self, text: str) -> bool:
        """Add text; True when the screen must be told (the outbox was empty)."""
        with self._lock:
            self._parts.append(text)
            return len(self._parts) == 1

    def take(self) -> str:
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return text


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "cancel", "Stop", tooltip="stop the reply (its text so far is kept), or stop editing"),
        Binding("ctrl+r", "regenerate", "Regenerate", tooltip="replace the last reply with a new one"),
        Binding("ctrl+l", "edit_last", "Edit last", tooltip="edit your last message; Enter resends it"),
        Binding("ctrl+n", "new_conversation", "New", tooltip="start a new conversation"),
        Binding("ctrl+o", "focus_sidebar", "Chats", tooltip="go to the saved conversations (Enter opens one)"),
        Binding("ctrl+f", "search", "Search", tooltip="search all conversations"),
        Binding("ctrl+s", "export", "Export", tooltip="export this conversation to Markdown or JSON"),
        Binding("f1", "help", "Help", tooltip="this list of keys and commands"),
    ]

    class ReplyPieces(Message):
        """New text is waiting in the reply's outbox."""

    @dataclass
    class ReplyDone(Message):
        text: str
        stats: "GenerationStats"

    @dataclass
    class ReplyFailed(Message):
        error: str

    @dataclass
    class ModelLoaded(Message):
        engine: "Engine"
        mode: str

    @dataclass
    class ModelFailed(Message):
        error: str

    def __init__(
        self,
        store: Store,
        engine: "Engine",
        *,
        load_engine: Callable[[Path], "Engine"],
        config: ChatConfig,
        cwd: Path,
        conversation_id: int | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._engine = engine
        self._load_engine = load_engine
        self._config = config
        self._cwd = cwd
        self._mode = choose_mode(engine, config.mode)
        self._conversation_id = conversation_id
        self._system = ""
        self._attachments: list[Attachment] = []
        #: The message being streamed, and the switch that stops it.
        self._reply: MessageView | None = None
        self._cancel = threading.Event()
        self._outbox = Outbox()
        #: Id of the user message being edited (it and what follows are replaced on send).
        self._editing: int | None = None
        self._last_stats: dict | None = None
        self._loading_model = False
        self._activity = ""

    # Layout and start-up

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield ConversationList(id="sidebar")
            with Vertical(id="main"):
                yield ChatLog(id="log")
                yield PromptInput(id="input", placeholder=PLACEHOLDERS[self._mode], soft_wrap=True)
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        if self._conversation_id is not None:
            await self.open_conversation(self._conversation_id)
        else:
            self._refresh_sidebar()
            self._refresh_status()
        self.query_one(PromptInput).focus()

    def on_unmount(self) -> None:
        self._cancel.set()
        self._engine.close()

    # Sending and streaming

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        try:
            if text.lstrip().startswith("/"):
                command, argument = parse_slash(text)
                await getattr(self, f"_slash_{command.name}")(argument)
            else:
                await self.send(text)
        except CoveError as error:
            event.input.restore(text)
            self.notify(str(error), severity="error")

    async def send(self, text: str) -> None:
        """Commit the message, show it, and start the reply."""
        self._refuse_while_busy()
        if self._conversation_id is None:
            title = text.strip().splitlines()[0][:TITLE_LENGTH]
            self._conversation_id = self._store.create_conversation(title, self._system).id
            self.sub_title = title
        if self._editing is not None:
            self._store.truncate(self._conversation_id, self._editing)
            self._editing = None
            await self._show_messages()
        stored = self._store.add_message(self._conversation_id, "user", text, mode=self._mode)
        await self.query_one(ChatLog).mount(MessageView("user", text, mode=self._mode, message_id=stored.id))
        self._refresh_sidebar()
        await self._start_reply()

    async def _start_reply(self, *, regenerate: bool = False) -> None:
        config = self._config.for_regenerate() if regenerate else self._config
        turns = self._store.messages(self._conversation_id)
        self._cancel, self._outbox = threading.Event(), Outbox()
        view = MessageView("assistant", mode=self._mode)
        await self.query_one(ChatLog).mount(view)
        await view.start_stream()
        self._reply = view
        self._set_activity("generating… (Esc stops)")
        self._generate(
            self._engine, self._mode, turns, self._system, list(self._attachments), config, self._cancel, self._outbox
        )

    @work(thread=True, exclusive=True, group="reply")
    def _generate(
        self, engine: "Engine", mode: str, turns: list[StoredMessage], system: str,
        attachments: list[Attachment], config: ChatConfig, cancel: threading.Event, outbox: "Outbox",
    ) -> None:
        worker = get_current_worker()
        try:
            generation = start_reply(
                engine, mode, turns, system=system, attachments=attachments, config=config,
                should_cancel=lambda: cancel.is_set() or worker.is_cancelled,
            )
            for piece in generation:
                if outbox.put(piece):
                    self.post_message(self.ReplyPieces())
        except Exception as error:  # any failure ends this reply, never the conversation
            self.post_message(self.ReplyFailed(str(error) or type(error).__name__))
            return
        self.post_message(self.ReplyDone(generation.text, generation.stats))

    @on(ReplyPieces)
    async def _reply_pieces(self) -> None:
        text = self._outbox.take()
        if self._reply is not None and text:
            await self._reply.write(text)

    @on(ReplyDone)
    async def _reply_done(self, message: ReplyDone) -> None:
        view, self._reply = self._reply, None
        stats = asdict(message.stats)
        stored = self._store.add_message(
            self._conversation_id, "assistant", message.text, mode=self._mode, stats=stats
        )
        await view.finish(message.text, message.stats.stop_reason, stored.id)
        self._last_stats = stats
        self._set_activity("")
        self._refresh_sidebar()

    @on(ReplyFailed)
    async def _reply_failed(self, message: ReplyFailed) -> None:
        view, self._reply = self._reply, None
        await view.remove()
        self._set_activity("")
        self.notify(f"the reply failed: {message.error}", severity="error", timeout=10)

    def _refuse_while_busy(self) -> None:
        if self._reply is not None:
            raise CoveError("a reply is still streaming: press Esc to stop it first")
        if self._loading_model:
            raise CoveError("a model is still loading: wait a moment for it")

    # Actions (keys and command palette)

    def action_cancel(self) -> None:
        """Esc: stop the reply (its text so far is kept), or stop editing."""
        if self._reply is not None:
            self._cancel.set()
        elif self._editing is not None:
            self._editing = None
            self.query_one(PromptInput).clear()
            self._set_activity("")

    async def action_regenerate(self) -> None:
        await self._guarded(self._regenerate)

    async def _regenerate(self) -> None:
        self._refuse_while_busy()
        messages = self._messages()
        if not messages:
            raise CoveError("there is nothing to regenerate yet: send a message first")
        if messages[-1].role == "assistant":
            self._store.truncate(self._conversation_id, messages[-1].id)
            await self._show_messages()
        await self._start_reply(regenerate=True)

    async def action_edit_last(self) -> None:
        await self._guarded(self._edit_last)

    async def _edit_last(self) -> None:
        self._refuse_while_busy()
        last = next((m for m in reversed(self._messages()) if m.role == "user"), None)
        if last is None:
            raise CoveError("there is no message of yours to edit yet")
        self._editing = last.id
        prompt = self.query_one(PromptInput)
        prompt.load_text(last.content)
        prompt.move_cursor(prompt.document.end)
        prompt.focus()
        self._set_activity("editing your last message: Enter resends it, Esc stops editing")

    async def action_new_conversation(self) -> None:
        await self._guarded(self._new_conversation)

    async def _new_conversation(self) -> None:
        self._refuse_while_busy()
        self._conversation_id, self._system, self._editing, self._last_stats = None, "", None, None
        self.sub_title = ""
        await self.query_one(ChatLog).show([])
        self._refresh_sidebar()
        self._set_activity("")
        self.query_one(PromptInput).focus()

    def action_focus_sidebar(self) -> None:
        self.query_one(ConversationList).focus()

    def action_search(self) -> None:
        self.app.push_screen(SearchScreen(self._store), self._search_chosen)

    async def _search_chosen(self, hit: SearchHit | None) -> None:
        if hit is not None:
            await self._guarded(lambda: self._open_at(hit.conversation_id, hit.message_id))

    async def _open_at(self, conversation_id: int, message_id: int) -> None:
        await self.open_conversation(conversation_id)
        self.query_one(f"#message-{message_id}", MessageView).scroll_visible(animate=False)

    def action_export(self) -> None:
        if self._conversation_id is None:
            self.notify("there is no conversation to export yet", severity="warning")
            return
        title = self._store.conversation(self._conversation_id).title
        default = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:40] or "conversation"
        self.app.push_screen(
            PromptScreen("Export this conversation to (.md or .json):", f"{default}.md"), self._export_to
        )

    async def _export_to(self, path: str | None) -> None:
        if path:
            await self._guarded(lambda: self._slash_export(path))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_help()))

    def action_ask(self, name: str) -> None:
        """Ask for a slash command's argument in a dialog (for the command palette)."""
        usage = next(c.usage for c in SLASH_COMMANDS if c.name == name)

        async def run(argument: str | None) -> None:
            if argument is not None:
                await self._guarded(lambda: getattr(self, f"_slash_{name}")(argument))

        self.app.push_screen(PromptScreen(usage), run)

    def palette_commands(self) -> Iterable[SystemCommand]:
        for title, help_text, action in PALETTE:
            yield SystemCommand(title, help_text, lambda action=action: self.run_action(action))

    def key_help(self) -> list[tuple[str, str]]:
        """Every key of the chat, for the help screen."""
        bindings = [*PromptInput.BINDINGS, *self.BINDINGS, *ConversationList.BINDINGS, *self.app.BINDINGS]
        return [("enter", "send the message"), *((b.key, b.tooltip or b.description) for b in bindings),
                ("ctrl+p", "command palette"), ("tab / shift+tab", "move between sidebar, log and input")]

    async def _guarded(self, step: Callable[[], object]) -> None:
        """Run an action; a CoveError becomes a notification instead of a crash."""
        try:
            await step()
        except CoveError as error:
            self.notify(str(error), severity="error")

    # Conversations

    @on(ConversationList.Chosen)
    async def _chosen(self, message: ConversationList.Chosen) -> None:
        await self._guarded(lambda: self.open_conversation(message.conversation_id))

    async def open_conversation(self, conversation_id: int) -> None:
        """Resume a saved conversation: its messages, system prompt and last figures."""
        self._refuse_while_busy()
        conversation = self._store.conversation(conversation_id)
        self._conversation_id, self._system, self._editing = conversation.id, conversation.system, None
        self.sub_title = conversation.title
        await self._show_messages()
        replies = [m for m in self._messages() if m.stats]
        self._last_stats = replies[-1].stats if replies else None
        self._refresh_sidebar()
        self._set_activity("")

    @on(ConversationList.DeleteRequested)
    def _delete_requested(self, message: ConversationList.DeleteRequested) -> None:
        async def answered(yes: bool | None) -> None:
            if yes:
                await self._guarded(lambda: self._delete(message.conversation_id))

        self.app.push_screen(ConfirmScreen(f"Delete “{message.title}”? This cannot be undone."), answered)

    async def _delete(self, conversation_id: int) -> None:
        if conversation_id == self._conversation_id:
            await self._new_conversation()
        self._store.delete_conversation(conversation_id)
        self._refresh_sidebar()
        self.notify("conversation deleted")

    def _messages(self) -> list[StoredMessage]:
        return self._store.messages(self._conversation_id) if self._conversation_id is not None else []

    async def _show_messages(self) -> None:
        views = [MessageView(m.role, m.content, mode=m.mode, message_id=m.id) for m in self._messages()]
        await self.query_one(ChatLog).show(views)

    def _refresh_sidebar(self) -> None:
        self.query_one(ConversationList).show(self._store.conversations(), self._conversation_id)

    # Slash commands (one method per row of SLASH_COMMANDS)

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

    # Status

    def _set_activity(self, activity: str) -> None:
        self._activity = activity
        self._refresh_status()

    def _refresh_status(self) -> None:
        stats = self._last_stats
        attached = sum(a.tokens for a in self._attachments)
        used = stats["prompt_tokens"] + stats["generated_tokens"] if stats else attached
        speed = None
        if stats and stats["generation_ms"] > 0:
            speed = 1000 * stats["generated_tokens"] / stats["generation_ms"]
        self.query_one(StatusBar).show(Status(
            model=self._engine.model_name,
            mode_label=MODE_LABELS[self._mode],
            context_used=used,
            context_total=self._engine.n_ctx,
            tokens_per_second=speed,
            attachments=len(self._attachments),
            attachment_tokens=attached,
            activity=self._activity,
        ))
