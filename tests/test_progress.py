"""Progress output: redrawn in place on a terminal, one plain line per step in a log or pipe."""

from __future__ import annotations

import io
import re
from pathlib import Path

import gguf

from assistant.cli import main
from assistant.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def steps_of(text: str) -> list[int]:
    """The step counts ("[3/21]" -> 3) of each line, in order."""
    return [int(m[1]) for line in text.splitlines() if (m := re.search(r"\[(\d+)/\d+\]", line))]


def assert_one_line_per_step_at_most(text: str, total: int) -> None:
    assert "\r" not in text
    steps = steps_of(text)
    assert len(text.splitlines()) == len(steps)
    assert len(steps) == len(set(steps)) <= total
    assert steps[-1] == total


def test_a_log_gets_one_line_per_step_and_no_carriage_returns():
    log = io.StringIO()
    with Progress("writing", 3, stream=log) as bar:
        for name in ("a", "b", "c"):
            bar.update(note=name)
            bar.update(bar.done, note=name)  # the same step again adds no line
    assert log.getvalue().splitlines() == ["writing [1/3] a", "writing [2/3] b", "writing [3/3] c"]


def test_a_log_of_many_fast_steps_is_thinned_but_keeps_the_last():
    log = io.StringIO()
    with Progress("training", 1000, line_interval_s=60.0, stream=log) as bar:
        for _ in range(1000):
            bar.update()
    assert steps_of(log.getvalue()) == [1, 1000]


def test_a_terminal_gets_one_line_redrawn_in_place():
    terminal = Terminal()
    with Progress("writing", 2, stream=terminal) as bar:
        bar.update(note="long-tensor-name")
        bar.update(2, note="x")
    text = terminal.getvalue()
    assert text.startswith("\rwriting [1/2] long-tensor-name") and text.endswith("\n") and text.count("\n") == 1
    assert "\rwriting [2/2] x" in text


def test_disabled_progress_writes_nothing():
    log = io.StringIO()
    with Progress("writing", 2, stream=log, enabled=False) as bar:
        bar.update()
    assert log.getvalue() == "" and bar.done == 1


def test_the_converter_logs_one_line_per_tensor(tiny_model: Path, tmp_path: Path, capsys) -> None:
    from convert.model import convert_checkpoint

    out = convert_checkpoint(tiny_model, tmp_path / "model.gguf", "f32", progress=True)
    assert_one_line_per_step_at_most(capsys.readouterr().err, len(gguf.GGUFReader(out).tensors))


def test_the_quantizer_logs_one_line_per_tensor(tiny_gguf: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "q.gguf"
    assert main(["quantize", str(tiny_gguf), str(out), "--type", "q8_0"]) == 0
    assert_one_line_per_step_at_most(capsys.readouterr().err, len(gguf.GGUFReader(out).tensors))
