"""Search across all conversations; returns the chosen hit through `dismiss`."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from assistant.store import SearchHit, Store


class SearchScreen(ModalScreen[SearchHit | None]):
    """Type to search; Down moves into the results, Enter opens one, Esc closes."""

    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("down", "results", "Results", show=False)]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self._store = store
        self._hits: list[SearchHit] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="search-dialog"):
            yield Label("Search all conversations")
            yield Input(placeholder="words to find", id="search-query")
            yield OptionList(id="search-results")

    @on(Input.Changed, "#search-query")
    def _search(self, event: Input.Changed) -> None:
        self._hits = self._store.search(event.value)
        results = self.query_one("#search-results", OptionList)
        results.set_options(
            Option(Content.assemble((hit.title, "bold"), "\n", hit.snippet), id=str(index))
            for index, hit in enumerate(self._hits)
        )
        if self._hits:
            results.highlighted = 0

    @on(Input.Submitted, "#search-query")
    def _open_first(self) -> None:
        if self._hits:
            self.dismiss(self._hits[0])

    @on(OptionList.OptionSelected, "#search-results")
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._hits[int(event.option.id)])

    def action_results(self) -> None:
        self.query_one("#search-results", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
