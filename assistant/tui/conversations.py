"""The chat screen's saved conversations: start, resume, delete, search, and the sidebar.

A part of `ChatScreen` (its state lives on the screen, so every part sees one
conversation): this one keeps the log and the sidebar in step with the history store.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from textual import on
from textual.screen import Screen

from assistant.store import SearchHit, Store, StoredMessage
from assistant.tui.screens.confirm import ConfirmScreen
from assistant.tui.screens.search import SearchScreen
from assistant.tui.widgets.messages import ChatLog, MessageView
from assistant.tui.widgets.prompt_input import PromptInput
from assistant.tui.widgets.sidebar import ConversationList


class ConversationHistory(Screen[None]):
    """Opening, starting and deleting conversations, and showing them."""

    _store: Store
    _conversation_id: int | None
    _system: str
    _editing: int | None
    _last_stats: dict | None
    _guarded: Callable[[Callable[[], Awaitable[object]]], Awaitable[None]]
    _refuse_while_busy: Callable[[], None]
    _set_activity: Callable[[str], None]

    async def _new_conversation(self) -> None:
        self._refuse_while_busy()
        self._conversation_id, self._system, self._editing, self._last_stats = None, "", None, None
        self.sub_title = ""
        await self.query_one(ChatLog).show([])
        self._refresh_sidebar()
        self._set_activity("")
        self.query_one(PromptInput).focus()

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

    def action_search(self) -> None:
        self.app.push_screen(SearchScreen(self._store), self._search_chosen)

    async def _search_chosen(self, hit: SearchHit | None) -> None:
        if hit is not None:
            await self._guarded(lambda: self._open_at(hit.conversation_id, hit.message_id))

    async def _open_at(self, conversation_id: int, message_id: int) -> None:
        await self.open_conversation(conversation_id)
        self.query_one(f"#message-{message_id}", MessageView).scroll_visible(animate=False)

    def _messages(self) -> list[StoredMessage]:
        return self._store.messages(self._conversation_id) if self._conversation_id is not None else []

    async def _show_messages(self) -> None:
        views = [MessageView(m.role, m.content, mode=m.mode, message_id=m.id) for m in self._messages()]
        await self.query_one(ChatLog).show(views)

    def _refresh_sidebar(self) -> None:
        self.query_one(ConversationList).show(self._store.conversations(), self._conversation_id)
