"""`cove stats` on a prepared acceptance file: the figures, as a table and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from assistant.cli import main
from lsp.acceptance import AcceptanceStore, Shown


def prepared(path: Path) -> Path:
    """Four completions of one model in two modes, a minute apart, and one from last month."""
    store, now = AcceptanceStore(path), time.time()
    for number, (mode, latency, accepted) in enumerate([("psm", 10.0, None), ("psm", 30.0, 3), ("psm", 20.0, 0),
                                                         ("spm", 40.0, None)]):
        store.shown(Shown(f"c{number}", "cove-tiny", mode, "model", latency, "abcdef", shown=now - 60 * number))
        if accepted != 0:
            store.accepted(f"c{number}", accepted)
    store.shown(Shown("old", "cove-tiny", "psm", "model", 999.0, "abcdef", shown=now - 30 * 86400))
    store.close()
    return path


def test_stats_prints_the_figures_per_model_and_mode(tmp_path: Path, capsys):
    assert main(["stats", "--db", str(prepared(tmp_path / "a.sqlite3"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = {tuple(line.split()[:2]): line.split() for line in lines if line.startswith(("cove-tiny", "all"))}
    # shown, accepted, partly, rate, chars/hour (per active minute: 3 minutes for psm), p50, p95
    assert table[("cove-tiny", "psm")][2:] == ["3", "1", "1", "66.7%", str(9 * 60 // 3), "20", "30"]
    assert table[("cove-tiny", "spm")][2:] == ["1", "1", "0", "100.0%", str(6 * 60), "40", "40"]
    assert table[("all", "-")][2:5] == ["4", "2", "1"]


def test_stats_json_and_the_window(tmp_path: Path, capsys):
    path = prepared(tmp_path / "a.sqlite3")
    assert main(["stats", "--db", str(path), "--json", "--days", "60"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["file"] == str(path) and summary["days"] == 60
    assert summary["total"]["shown"] == 5 and summary["total"]["latencyP95Ms"] == 999.0


def test_stats_without_a_file_says_so_and_creates_none(tmp_path: Path, capsys):
    assert main(["stats", "--db", str(tmp_path / "none.sqlite3")]) == 0
    assert "No completions recorded" in capsys.readouterr().out
    assert not (tmp_path / "none.sqlite3").exists()


def test_stats_on_a_damaged_file_is_an_error_with_a_fix(tmp_path: Path, capsys):
    path = tmp_path / "a.sqlite3"
    path.write_bytes(b"not a database" * 100)
    assert main(["stats", "--db", str(path)]) == 2
    assert "move it aside" in capsys.readouterr().err


def test_stats_imports_neither_pygls_nor_torch():
    code = ("import sys; from assistant.cli import main; main(['stats', '--db', '/nonexistent/a.sqlite3']); "
            "assert not {'pygls', 'torch', 'llama_cpp'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
