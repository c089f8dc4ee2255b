"""The `cove` command: help for every subcommand, one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

from assistant.cli import COMMANDS

COVE = [sys.executable, "-m", "assistant"]


def cove(*args, stdin=None, env=None):
    return subprocess.run([*COVE, *args], capture_output=True, text=True, input=stdin, env=env, timeout=120)


def test_top_level_help_lists_every_subcommand():
    result = cove("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_explains_itself(name):
    result = cove(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: cove " + name in result.stdout


def _bad_models(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 10)
    return {"missing": tmp_path / "nope.gguf", "directory": tmp_path, "not gguf": text, "truncated": truncated}


@pytest.mark.parametrize("kind", ["missing", "directory", "not gguf", "truncated"])
def test_bad_model_paths_give_one_line_and_exit_code_2(tmp_path, kind):
    model = _bad_models(tmp_path)[kind]
    result = cove("complete", "-", "--model", str(model), stdin="x = <|cursor|>\n")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cove: error:"), result.stderr
    assert str(model) in lines[0]


def test_complete_prints_the_infill_with_timings(tiny_gguf, tmp_path):
    source = tmp_path / "add.py"
    source.write_text("def add(a, b):\n    return \n")
    result = cove("complete", str(source), "--line", "2", "--col", "12", "--json", "--max-tokens", "8",
                  "--min-confidence", "0", "--model", str(tiny_gguf))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "psm:starcoder"
    assert report["prompt_tokens"] > 0 and 0 < report["generated_tokens"] + (report["stop_reason"] == "eog") <= 8
    assert report["latency_ms"] >= report["prompt_ms"]
    assert report["served_from"] == "model"


def test_complete_shows_nothing_where_an_editor_would_show_nothing(tiny_gguf, tmp_path):
    source = tmp_path / "edit.py"
    source.write_text("total = compute(first_argument, second_argument)\n")
    result = cove("complete", str(source), "--line", "1", "--col", "9", "--json", "--model", str(tiny_gguf))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["text"], report["served_from"]) == ("", "none")


def test_complete_refuses_a_names_floor_outside_0_to_1(tiny_gguf, tmp_path):
    result = cove("complete", "-", "--min-confidence-new-name", "2", "--model", str(tiny_gguf), stdin="x = <|cursor|>\n")
    assert result.returncode == 2 and "minConfidenceNewName=2.0 must be between 0 and 1" in result.stderr


def test_complete_refuses_a_position_outside_the_file(tiny_gguf, tmp_path):
    source = tmp_path / "a.py"
    source.write_text("x = 1\n")
    result = cove("complete", str(source), "--line", "9", "--col", "1", "--model", str(tiny_gguf))
    assert result.returncode == 2 and "outside" in result.stderr


def test_doctor_reports_model_choice_format_and_self_test(tiny_gguf):
    result = cove("doctor", "--model", str(tiny_gguf))
    assert result.returncode == 0, result.stderr
    from lsp.settings import DEFAULT_MIN_CONFIDENCE

    for expected in ("chosen by", "command line", "infill format", "psm:starcoder", "next keystroke", "from cache",
                     "confidence gate", f"{DEFAULT_MIN_CONFIDENCE:g} (the default"):
        assert expected in result.stdout


def test_doctor_says_a_weak_model_is_weak_and_what_to_do_but_exits_0(tiny_gguf):
    result = cove("doctor", "--model", str(tiny_gguf))  # random weights: its fill is noise
    assert result.returncode == 0, result.stderr
    assert "POOR:" in result.stdout
    assert "cove models list --catalogue" in result.stdout and "cove finetune" in result.stdout


def test_bench_prints_the_three_latency_figures(tiny_gguf):
    result = cove("bench", "--model", str(tiny_gguf), "--prompt-tokens", "64", "--repeat", "2", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["cold_prompt_ms"] > 0 and figures["keystroke_ms"] > 0
    assert figures["keystroke_cached_share"] > 0.5
