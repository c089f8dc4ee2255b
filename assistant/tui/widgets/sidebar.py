"""The sidebar: saved conversations, newest first; Enter resumes one, Delete removes it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from assistant.store import Conversation


class ConversationList(OptionList):
    """Lists conversations; posts `Chosen` and `DeleteRequested`, the screen acts on them."""

    BINDINGS = [
        Binding("delete,d", "delete", "Delete", tooltip="delete the highlighted conversation (asks first)")
    ]

    @dataclass
    class Chosen(Message):
        conversation_id: int

    @dataclass
    class DeleteRequested(Message):
        conversation_id: int
        title: str

    def show(self, conversations: list[Conversation], current: int | None) -> None:
        """Replace the list, keeping the current conversation highlighted."""
        self.set_options(Option(c.title, id=str(c.id)) for c in conversations)
        if current is not None and any(c.id == current for c in conversations):
            self.highlighted = self.get_option_index(str(current))

    def on_focus(self) -> None:
        """Arriving by keyboard with nothing highlighted, start at the newest conversation."""
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(int(event.option.id)))

    def action_delete(self) -> None:
        option = self.highlighted_option
        if option is not None:
            self.post_message(self.DeleteRequested(int(option.id), str(option.prompt)))
