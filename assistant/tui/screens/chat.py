"""The chat screen: conversations on the left, the log and the input on the right.

The screen holds the conversation state and the model, lays out the widgets and wires
keys, messages and slash commands to the parts that act on them: `ReplyView` generates
and streams a reply in its own worker, `ConversationHistory` keeps the log and sidebar
in step with the store, `SlashCommandHandlers` runs slash commands. Every user message
is committed to the history before its reply starts, so a killed app loses nothing
shown as sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Iterable

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from assistant.chat import MODE_LABELS, Attachment, ChatConfig, choose_mode
from assistant.errors import CoveError
from assistant.store import Store
from assistant.tui.conversations import ConversationHistory
from assistant.tui.screens.help import HelpScreen
from assistant.tui.screens.prompt import PromptScreen
from assistant.tui.slash import parse_slash
from assistant.tui.slash_handlers import SlashCommandHandlers
from assistant.tui.widgets.messages import ChatLog, MessageView
from assistant.tui.widgets.prompt_input import PLACEHOLDERS, PromptInput
from assistant.tui.widgets.reply import ReplyRequest, ReplyView
from assistant.tui.widgets.sidebar import ConversationList
from assistant.tui.widgets.status import Status, StatusBar

if TYPE_CHECKING:
    from assistant.engine import Engine

#: Longest conversation title taken from its first message.
TITLE_LENGTH = 48
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
    ("Set sampling", "Change temperature, top-p or repeat penalty for this mode (/set)", "ask('set')"),
    ("Help", "Show keys and commands", "help"),
)


class ChatScreen(ConversationHistory, SlashCommandHandlers):
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

    def __init__(
        self,
        store: Store,
        engine: "Engine",
        *,
        load_engine: Callable[[Path], "Engine"],
        config: ChatConfig,
        cwd: Path,
        conversation_id: int | None = None,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        #: One line above the log about the model (the bundled model's first-run line), if any.
        self._notice = notice
        self._store = store
        self._engine = engine
        self._load_engine = load_engine
        self._config = config
        self._cwd = cwd
        self._mode = choose_mode(engine, config.mode)
        self._conversation_id = conversation_id
        self._system = ""
        self._attachments: list[Attachment] = []
        #: The reply being generated, if any.
        self._reply: ReplyView | None = None
        #: Id of the user message being edited (it and what follows are replaced on send).
        self._editing: int | None = None
        self._last_stats: dict | None = None
        self._loading_model = False
        self._activity = ""

    # Layout and start-up

    def compose(self) -> ComposeResult:
        yield Header()
        if self._notice:
            yield Static(self._notice, id="notice", markup=False)
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
        if self._reply is not None:
            self._reply.cancel()
        self._engine.close()

    # Sending and streaming

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        try:
            if text.lstrip().startswith("/"):
                command, argument = parse_slash(text)
                await self.run_slash(command.name, argument)
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
        view = ReplyView(mode=self._mode)
        await self.query_one(ChatLog).mount(view)
        await view.start_stream()
        self._reply = view
        self._set_activity("generating… (Esc stops)")
        view.generate(ReplyRequest(self._engine, self._mode, turns, self._system, list(self._attachments), config))

    @on(ReplyView.Done)
    async def _reply_done(self, message: ReplyView.Done) -> None:
        view, self._reply = self._reply, None
        stats = message.stats.figures()
        stored = self._store.add_message(
            self._conversation_id, "assistant", message.text, mode=self._mode, stats=stats
        )
        await view.finish(message.text, message.stats.stop_reason, stored.id)
        self._last_stats = stats
        self._set_activity("")
        self._refresh_sidebar()

    @on(ReplyView.Failed)
    async def _reply_failed(self, message: ReplyView.Failed) -> None:
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
            self._reply.cancel()
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

    def action_focus_sidebar(self) -> None:
        self.query_one(ConversationList).focus()

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
            await self._guarded(lambda: self.run_slash("export", path))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_help()))

    def palette_commands(self) -> Iterable[SystemCommand]:
        for title, help_text, action in PALETTE:
            yield SystemCommand(title, help_text, lambda action=action: self.run_action(action))

    def key_help(self) -> list[tuple[str, str]]:
        """Every key of the chat, for the help screen."""
        bindings = [*PromptInput.BINDINGS, *self.BINDINGS, *ConversationList.BINDINGS, *self.app.BINDINGS]
        return [("enter", "send the message"), *((b.key, b.tooltip or b.description) for b in bindings),
                ("ctrl+p", "command palette"), ("tab / shift+tab", "move between sidebar, log and input")]

    async def _guarded(self, step: Callable[[], Awaitable[object]]) -> None:
        """Run an action; a CoveError becomes a notification instead of a crash."""
        try:
            await step()
        except CoveError as error:
            self.notify(str(error), severity="error")

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
            sampling=self._config.sampling(self._mode).label(),
            context_used=used,
            context_total=self._engine.n_ctx,
            tokens_per_second=speed,
            attachments=len(self._attachments),
            attachment_tokens=attached,
            activity=self._activity,
        ))
