"""The message box: a multi-line TextArea where Enter sends and Shift+Enter adds a line."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from assistant.chat import CURSOR


#: Keys that add a line instead of sending.
NEWLINE_KEYS = ("shift+enter", "ctrl+j")
#: Chat mode -> what the empty box says.
PLACEHOLDERS = {
    "chat": "Message (Enter sends, Shift+Enter or Ctrl+J new line, /help for commands)",
    "completion": f"Completion mode: type code to continue, or mark a gap with {CURSOR} (Enter sends)",
}


class PromptInput(TextArea):
    """Multi-line input for messages and slash commands.

    TextArea inserts a newline on Enter in its own key handler, before bindings are
    consulted, so Enter is intercepted here; Shift+Enter (terminals that report it) and
    Ctrl+J (all terminals: it is the line-feed byte) add a newline instead.
    """

    BINDINGS = [
        Binding(",".join(NEWLINE_KEYS), "newline", "New line", show=False, tooltip="add a new line to the message"),
    ]

    @dataclass
    class Submitted(Message):
        """The user pressed Enter on a non-blank message (the box is already cleared)."""

        input: "PromptInput"
        text: str

    async def _on_key(self, event: events.Key) -> None:
        if event.key in NEWLINE_KEYS:
            # In a real terminal the line-feed byte reaches this handler instead of the
            # binding (seen in tmux; Pilot goes through the binding): same action.
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        if event.key != "enter":
            return  # TextArea's own handler runs next
        event.stop()
        event.prevent_default()
        if self.text.strip():
            # Cleared now, not when the screen has acted: keys typed meanwhile must land
            # in an empty box, not be appended to (or wiped with) the sent text.
            text = self.text
            self.clear()
            self.post_message(self.Submitted(self, text))

    def restore(self, text: str) -> None:
        """Put back a message that could not be sent, unless the user already typed anew."""
        if not self.text:
            self.load_text(text)
            self.move_cursor(self.document.end)

    def action_newline(self) -> None:
        self.insert("\n")
