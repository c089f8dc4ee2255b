"""Acceptance tracking without a server: the SQLite file, its figures, partial accepts and
a broken file (tracking off, one log line)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from lsprotocol import types

from lsp.accept_tracker import AcceptanceTracker
from lsp.acceptance import MIGRATIONS, AcceptanceStore, Shown, figures, percentile, summarize
from lsp.commands import ACCEPTED
from lsp.completer import Record
from lsp.settings import Settings

NOW = 1_800_000_000.0


def shown(store: AcceptanceStore, id: str, text: str = "compute(x)", *, at: float = NOW, latency: float = 50.0,
          model: str = "tiny", mode: str = "psm") -> None:
    store.shown(Shown(id, model, mode, "model", latency, text, shown=at))


def test_a_new_file_is_created_at_the_current_schema_in_wal_mode(tmp_path: Path):
    store = AcceptanceStore(tmp_path / "data" / "acceptance.sqlite3")
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_one_version_old_is_migrated_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "acceptance.sqlite3"
    old = AcceptanceStore(path, migrations=MIGRATIONS[:-1])
    old._db.execute("INSERT INTO completions (id, shown, model, mode, served_from, latency_ms, chars, lines) "
                    "VALUES ('a', ?, 'tiny', 'psm', 'model', 40, 10, 1)", (NOW,))
    old.close()
    store = AcceptanceStore(path)
    shown(store, "b", "secret()")
    store.accepted("a")
    assert store.summary(days=1, now=NOW)["total"]["accepted"] == 1
    assert sqlite3.connect(path).execute("SELECT text FROM completions WHERE id = 'b'").fetchone() == (None,)


def test_text_is_kept_only_when_asked(tmp_path: Path):
    store = AcceptanceStore(tmp_path / "a.sqlite3")
    store.shown(Shown("a", "tiny", "psm", "model", 1.0, "kept()", keep_text=True))
    assert store._db.execute("SELECT text FROM completions").fetchone()[0] == "kept()"


def test_partial_then_full_acceptance_keeps_the_largest_and_never_exceeds_the_completion(tmp_path: Path):
    store = AcceptanceStore(tmp_path / "a.sqlite3")
    shown(store, "a", "compute(x)")
    store.accepted("a", 4)
    assert store.rows(0)[0]["accepted_chars"] == 4
    store.accepted("a", 99)
    store.accepted("a", 2)
    assert store.rows(0)[0]["accepted_chars"] == 10


def test_figures_per_model_and_mode():
    rows = [
        {"shown": NOW, "model": "tiny", "mode": "psm", "latency_ms": 10.0, "chars": 10, "accepted_chars": 10},
        {"shown": NOW + 30, "model": "tiny", "mode": "psm", "latency_ms": 30.0, "chars": 10, "accepted_chars": 4},
        {"shown": NOW + 90, "model": "tiny", "mode": "psm", "latency_ms": 20.0, "chars": 10, "accepted_chars": 0},
        {"shown": NOW + 100, "model": "tiny", "mode": "spm", "latency_ms": 99.0, "chars": 5, "accepted_chars": 0},
    ]
    summary = summarize(rows, days=7)
    psm = summary["groups"][0]
    assert (psm["model"], psm["mode"], psm["shown"], psm["accepted"], psm["partiallyAccepted"]) == ("tiny", "psm", 3, 1, 1)
    assert psm["acceptanceRate"] == pytest.approx(2 / 3)
    # 14 characters over two active minutes (NOW falls inside a clock minute; +90 s is the next one).
    assert psm["activeMinutes"] == len({int(NOW // 60), int((NOW + 90) // 60)}) == 2
    assert psm["acceptedCharsPerHour"] == pytest.approx(14 * 30)
    assert (psm["latencyP50Ms"], psm["latencyP95Ms"]) == (20.0, 30.0)
    assert summary["total"]["shown"] == 4 and summary["groups"][1]["acceptanceRate"] == 0


def test_no_rows_give_no_rates():
    empty = figures([])
    assert empty["shown"] == 0 and empty["acceptanceRate"] is None and empty["latencyP50Ms"] is None


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([7.0], 0.95)) == (50.0, 95.0, 7.0)


def test_the_window_leaves_out_older_completions(tmp_path: Path):
    store = AcceptanceStore(tmp_path / "a.sqlite3")
    shown(store, "old", at=NOW - 8 * 86400)
    shown(store, "new", at=NOW - 86400)
    assert store.summary(days=7, now=NOW)["total"]["shown"] == 1
    assert store.summary(days=9, now=NOW)["total"]["shown"] == 2


# ---- the tracker ------------------------------------------------------------------------


def completer(settings: Settings) -> SimpleNamespace:
    """What the tracker reads of a Completer after a request."""
    return SimpleNamespace(settings=settings, history=[Record("model", 42.0, mode="spm")],
                           backend=SimpleNamespace(description="tiny (tiny.gguf, psm, n_ctx 256)"))


def insert(at: types.Position, text: str) -> list:
    return [types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)]


async def test_an_accepted_item_and_partial_accepts_are_recorded(tmp_path: Path):
    settings = Settings(acceptance_file=str(tmp_path / "a.sqlite3"))
    tracker = AcceptanceTracker(lambda m: None)
    at = types.Position(3, 4)
    command = tracker.shown("file:///a.py", at, "value = compute(x)", completer(settings))
    assert command.command == ACCEPTED and len(command.arguments) == 1
    tracker.changed("file:///a.py", insert(at, "value "), len)  # VS Code's accept-word
    tracker.changed("file:///a.py", insert(types.Position(3, 10), "= "), len)  # and again, where it ended
    summary = tracker.summary(settings)
    assert summary["total"]["acceptedChars"] == 8 and summary["total"]["partiallyAccepted"] == 1
    assert summary["groups"][0]["model"] == "tiny" and summary["groups"][0]["mode"] == "spm"

    second = tracker.shown("file:///a.py", at, "other()", completer(settings))
    tracker.changed("file:///a.py", insert(at, "o"), len)  # typing one character is not accepting
    tracker.changed("file:///a.py", insert(types.Position(3, 5), "th"), len)  # the watch ended
    tracker.accepted(second.arguments[0])
    total = (tracker.summary(settings))["total"]
    assert (total["shown"], total["accepted"], total["partiallyAccepted"], total["acceptedChars"]) == (2, 1, 1, 15)
    tracker.close()


async def test_turned_off_there_is_no_command_and_no_file(tmp_path: Path):
    settings = Settings(acceptance_file=str(tmp_path / "a.sqlite3"), record_acceptance=False)
    tracker = AcceptanceTracker(lambda m: None)
    assert tracker.shown("file:///a.py", types.Position(0, 0), "x()", completer(settings)) is None
    assert tracker.summary(settings) == {"enabled": False}
    tracker.close()
    assert not (tmp_path / "a.sqlite3").exists()


async def test_a_damaged_file_turns_tracking_off_with_one_log_line(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    settings, logged = Settings(acceptance_file=str(path)), []
    tracker = AcceptanceTracker(logged.append)
    assert tracker.shown("file:///a.py", types.Position(0, 0), "x()", completer(settings)) is not None
    assert (tracker.summary(settings))["enabled"] is False
    assert tracker.shown("file:///a.py", types.Position(0, 0), "y()", completer(settings)) is None
    tracker.close()
    assert len(logged) == 1 and "acceptance tracking is off" in logged[0] and str(path) in logged[0]
