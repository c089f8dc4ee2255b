"""What users do with completions, kept on this machine: the SQLite file and its figures.

One row per completion the server showed (an inline completion item it answered with):
when, which model and infill mode, how long it took, how long it was, and how much of it
the user accepted. The completion's text is stored only when the user opts in
(`recordText`); the code around it never is. `cove stats` and `cove.status` read the
figures from here. Stdlib only: `cove stats` must start without pygls or the model.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from assistant import locations
from assistant.database import Migration, connect

#: The figures of the last this-many days, unless asked otherwise.
DEFAULT_DAYS = 7


def default_path() -> Path:
    """Where the file lives unless the `acceptanceFile` setting or `cove stats --db` says otherwise."""
    return locations.data_dir() / "acceptance.sqlite3"


def _v1_completions(db: sqlite3.Connection) -> str:
    return """
        CREATE TABLE completions (
            id TEXT PRIMARY KEY,
            shown REAL NOT NULL,
            model TEXT NOT NULL,
            mode TEXT NOT NULL,
            served_from TEXT NOT NULL,
            latency_ms REAL NOT NULL,
            chars INTEGER NOT NULL,
            lines INTEGER NOT NULL,
            accepted_chars INTEGER NOT NULL DEFAULT 0,
            accepted REAL
        );
        """


def _v2_text_and_time_index(db: sqlite3.Connection) -> str:
    """The opt-in completion text, and an index for the figures' time window."""
    return """
        ALTER TABLE completions ADD COLUMN text TEXT;
        CREATE INDEX completions_by_time ON completions (shown);
        """


#: Schema upgrades in order: MIGRATIONS[v] takes a file from version v to v + 1.
MIGRATIONS: tuple[Migration, ...] = (_v1_completions, _v2_text_and_time_index)


@dataclass(frozen=True)
class Shown:
    """One completion the server showed."""

    id: str
    model: str
    mode: str
    #: "model" or "cache" (lsp.completer.Record.served_from).
    served_from: str
    latency_ms: float
    text: str
    #: Keep `text` in the file (the `recordText` setting); otherwise only its lengths.
    keep_text: bool = False
    shown: float = 0.0  #: Unix time; 0 means now


class AcceptanceStore:
    """The file, opened and migrated; sqlite3.DatabaseError when it cannot be. Use it from one thread."""

    def __init__(self, path: Path, *, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        self.path = path
        self._db = connect(path, migrations)
        # A commit writes the WAL without fsync (checkpoints do): a crash may lose the last
        # rows, and recording never waits on the disk.
        self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self._db.close()

    def shown(self, completion: Shown) -> None:
        self._db.execute(
            "INSERT INTO completions (id, shown, model, mode, served_from, latency_ms, chars, lines, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (completion.id, completion.shown or time.time(), completion.model, completion.mode,
             completion.served_from, completion.latency_ms, len(completion.text), completion.text.count("\n") + 1,
             completion.text if completion.keep_text else None),
        )

    def accepted(self, completion_id: str, chars: int | None = None, at: float | None = None) -> None:
        """The user took `chars` characters of the completion (None: all of it). Reports of
        the same completion (partial ones, then the command) keep the largest."""
        self._db.execute(
            "UPDATE completions SET accepted_chars = MAX(accepted_chars, MIN(chars, COALESCE(?, chars))), "
            "accepted = COALESCE(accepted, ?) WHERE id = ?",
            (chars, at or time.time(), completion_id),
        )

    def rows(self, since: float) -> list[sqlite3.Row]:
        return _rows(self._db, since)

    def summary(self, days: float = DEFAULT_DAYS, now: float | None = None) -> dict:
        return summarize(self.rows((now or time.time()) - days * 86400), days)


def _rows(db: sqlite3.Connection, since: float) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT shown, model, mode, latency_ms, chars, accepted_chars FROM completions WHERE shown >= ?",
        (since,)).fetchall()


def read_summary(path: Path, days: float = DEFAULT_DAYS, now: float | None = None) -> dict:
    """The figures from a file, read without writing (a read-only connection beside the
    writer's: WAL lets it read while the writer writes); sqlite3.Error when it cannot."""
    if not path.exists():
        return summarize([], days)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    try:
        db.row_factory = sqlite3.Row
        return summarize(_rows(db, (now or time.time()) - days * 86400), days)
    finally:
        db.close()


# ---- the figures -----------------------------------------------------------------------


def summarize(rows: Iterable[Mapping], days: float) -> dict:
    """The figures per model and mode, and over all of them (`total`)."""
    rows = list(rows)
    groups: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["mode"])].append(row)
    return {
        "days": days,
        "groups": [{"model": model, "mode": mode, **figures(group)} for (model, mode), group in sorted(groups.items())],
        "total": figures(rows),
    }


def figures(rows: list[Mapping]) -> dict:
    """Acceptance rate: completions accepted in full or in part, of those shown.
    Accepted characters per hour of active time, where active time is the number of
    distinct clock minutes in which a completion was shown (so idle hours between sessions
    do not count, and a burst of requests within one minute counts once). Latency
    percentiles by nearest rank, over shown completions (cache hits included)."""
    shown = len(rows)
    full = sum(1 for r in rows if r["accepted_chars"] >= r["chars"] > 0)
    partial = sum(1 for r in rows if 0 < r["accepted_chars"] < r["chars"])
    accepted_chars = sum(r["accepted_chars"] for r in rows)
    active_minutes = len({int(r["shown"] // 60) for r in rows})
    latencies = sorted(r["latency_ms"] for r in rows)
    return {
        "shown": shown,
        "accepted": full,
        "partiallyAccepted": partial,
        "acceptanceRate": (full + partial) / shown if shown else None,
        "acceptedChars": accepted_chars,
        "activeMinutes": active_minutes,
        "acceptedCharsPerHour": accepted_chars / (active_minutes / 60) if active_minutes else None,
        "latencyP50Ms": percentile(latencies, 0.5),
        "latencyP95Ms": percentile(latencies, 0.95),
    }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted values: always one of them, defined for one value."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
