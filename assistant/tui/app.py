"""The Cove terminal app: styles, global keys and screen wiring; the chat screen does the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from assistant.chat import ChatConfig
from assistant.store import Store
from assistant.tui.screens.chat import ChatScreen

if TYPE_CHECKING:
    from assistant.engine import Engine


class CoveApp(App[None]):
    """`cove chat`. Takes ownership of `engine` (closed on exit); `load_engine` loads
    the model named by /model; `notice` is a line shown above the conversation."""

    CSS_PATH = "app.tcss"
    TITLE = "Cove"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="quit (everything is already saved)")]

    def __init__(
        self,
        store: Store,
        engine: "Engine",
        *,
        load_engine: Callable[[Path], "Engine"],
        config: ChatConfig = ChatConfig(),
        conversation_id: int | None = None,
        cwd: Path | None = None,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self._chat = ChatScreen(
            store, engine, load_engine=load_engine, config=config,
            cwd=cwd or Path.cwd(), conversation_id=conversation_id, notice=notice,
        )

    def on_mount(self) -> None:
        self.push_screen(self._chat)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, ChatScreen):
            yield from screen.palette_commands()
