"""Which shown completions the user takes, learnt with no editor plugin.

Each inline completion item the server answers with gets an id and carries the command
`cove.accepted` with that id (`InlineCompletionItem.command`, LSP 3.18): the editor runs
it when the user accepts the item. Editors that accept part of an item (VS Code's
accept-word and accept-line) insert a prefix of it without running the command; that is
read from the next `didChange` of the document: one change inserting, exactly where the
completion was shown (or where the previous part ended), at least MIN_PART characters
that begin what is left of it. One keystroke inserts one character, so typing along a
suggestion does not count; any other edit ends the watch.

Rows go to lsp/acceptance.py's SQLite file on a thread of their own, so a slow disk or
a file another process holds never delays a completion. A file that cannot be opened or
written turns tracking off with one log line; the server carries on.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence
from uuid import uuid4

from lsprotocol import types

from lsp.acceptance import DEFAULT_DAYS, AcceptanceStore, Shown, default_path, read_summary
from lsp.commands import ACCEPTED
from lsp.completer import Completer
from lsp.settings import Settings

#: Fewest characters one change must insert to count as a partial accept (not typing).
MIN_PART = 2


@dataclass(frozen=True)
class _Watch:
    """The completion last shown in a document, and how much of it is taken so far."""

    id: str
    #: Where the rest of the completion starts, in the client's position units.
    position: types.Position
    rest: str
    taken: int


#: Longest a `cove.status` answer waits for records still being written.
FLUSH_TIMEOUT_S = 0.5


class AcceptanceTracker:
    """Ids for shown completions, the accept command, partial accepts, and the store's thread."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        #: One thread owns the SQLite connection: opening, writing and reading all happen on it.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cove-acceptance")
        self._store: AcceptanceStore | None = None
        #: The file opened, or the one that failed (then tracking stays off until the setting changes).
        self._path: Path | None = None
        self._watches: dict[str, _Watch] = {}

    def shown(self, uri: str, position: types.Position, text: str, completer: Completer) -> types.Command | None:
        """Record a completion about to be shown at `position`; the command its item carries,
        or None when tracking is off. Call it straight after the completer answered: its
        newest history record is this completion's."""
        settings = completer.settings
        path = _path(settings)
        if not settings.record_acceptance or not text or (path == self._path and self._store is None):
            return None
        record = completer.history[-1]
        model = completer.backend.description.split(" (", 1)[0] if completer.backend else ""
        completion = Shown(uuid4().hex, model, record.mode, record.served_from, record.latency_ms, text,
                           keep_text=settings.record_text)
        self._submit(lambda store: store.shown(completion), path)
        self._watches[uri] = _Watch(completion.id, position, text, 0)
        return types.Command(title="cove: accepted", command=ACCEPTED, arguments=[completion.id])

    def accepted(self, completion_id: str) -> None:
        """The editor ran the item's command: the whole completion was taken."""
        self._watches = {uri: w for uri, w in self._watches.items() if w.id != completion_id}
        self._submit(lambda store: store.accepted(completion_id))

    def changed(self, uri: str, changes: Sequence[types.TextDocumentContentChangeEvent],
                units: Callable[[str], int]) -> None:
        """Watch a document edit for a partial accept (see the module docstring); `units`
        measures text in the client's position units."""
        watch = self._watches.pop(uri, None)
        if watch is None or len(changes) != 1 or not isinstance(changes[0], types.TextDocumentContentChangePartial):
            return
        change, at = changes[0], watch.position
        inserted = change.text
        if change.range != types.Range(at, at) or len(inserted) < MIN_PART or not watch.rest.startswith(inserted):
            return
        taken = watch.taken + len(inserted)
        self._submit(lambda store: store.accepted(watch.id, taken))
        if rest := watch.rest[len(inserted):]:
            lines = inserted.split("\n")
            character = (at.character if len(lines) == 1 else 0) + units(lines[-1])
            self._watches[uri] = _Watch(watch.id, types.Position(at.line + len(lines) - 1, character), rest, taken)

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait (a bounded time) for the records already handed to the store's thread."""
        try:
            self._writer.submit(lambda: None).result(timeout_s)
        except TimeoutError:
            pass

    def summary(self, settings: Settings, days: float = DEFAULT_DAYS) -> dict:
        """The figures for `cove.status`: the records handed over so far written (waiting at
        most FLUSH_TIMEOUT_S), then read on a read-only connection."""
        if not settings.record_acceptance:
            return {"enabled": False}
        self.flush()
        path = _path(settings)
        if path == self._path and self._store is None:
            return {"enabled": False, "file": str(path), "error": "the file cannot be used (see the log)"}
        try:
            return {"enabled": True, "file": str(path), **read_summary(path, days)}
        except sqlite3.Error as error:
            return {"enabled": True, "file": str(path), "error": f"cannot read it: {error}"}

    def close(self) -> None:
        self._writer.submit(self._close)
        self._writer.shutdown(wait=True)

    # ---- on the store's thread ---------------------------------------------------------

    def _submit(self, write: Callable[[AcceptanceStore], None], path: Path | None = None) -> None:
        """Run `write` on the store's thread (opening `path` first when given and not open)."""

        def job() -> None:
            if path is not None:
                self._open(path)
            if self._store is None:
                return
            try:
                write(self._store)
            except sqlite3.Error as error:
                self._fail(self._store.path, error)

        self._writer.submit(job)

    def _open(self, path: Path) -> None:
        if path == self._path:
            return
        self._close()
        self._path = path
        try:
            self._store = AcceptanceStore(path)
        except (sqlite3.Error, OSError) as error:
            self._fail(path, error)

    def _fail(self, path: Path, error: Exception) -> None:
        self._close()
        self._path = path  # stays failed: one log line, not one per completion
        self.log(f"cove: acceptance tracking is off: {path} cannot be used ({error}); "
                 "move the file aside or set recordAcceptance to false")

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store = None


def _path(settings: Settings) -> Path:
    return Path(settings.acceptance_file).expanduser() if settings.acceptance_file else default_path()
