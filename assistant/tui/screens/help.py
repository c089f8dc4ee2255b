"""The help screen: every key and slash command, built from the bindings and the command table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from assistant.chat import CURSOR
from assistant.tui.slash import SLASH_COMMANDS


class HelpScreen(ModalScreen[None]):
    """Lists keys and commands; Esc, q or F1 closes it."""

    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        keys = "\n".join(f"- `{key.replace(',', ' / ')}`: {description}" for key, description in self._keys)
        commands = "\n".join(f"- `{c.usage}`: {c.help}" for c in SLASH_COMMANDS)
        text = (
            "# Cove: keys and commands\n\n"
            f"## Keys\n\n{keys}\n\n"
            f"## Commands\n\n{commands}\n\n"
            "In completion mode (models without a chat template) a message is code: "
            f"the reply continues it, or fills the gap where you write `{CURSOR}`."
        )
        with VerticalScroll(id="help-body"):
            yield Markdown(text)
