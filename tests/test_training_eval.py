"""`cove eval`: infill tasks, HumanEval tasks run for real, bits per byte, the command end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.evaluate import heldout_files, infill_prompt, infill_tasks, load_model, text_loss
from training.humaneval import passes, problems, single_line_tasks, truncate
from test_training_helpers import PROJECT_SOURCES, code_file, write_repo

ROOT = Path(__file__).resolve().parents[1]
FILES = [(p.name, p.read_text()) for p in PROJECT_SOURCES[:4]]


@pytest.mark.parametrize("multiline", [False, True])
def test_infill_tasks_cut_a_file_into_prefix_middle_suffix(multiline):
    texts = dict(FILES)
    for task in infill_tasks(FILES, 40, multiline, seed=1):
        assert task.prefix + task.expected + task.suffix == texts[task.path]
        assert task.expected.strip() and task.prefix.endswith(("\n", "")) and (task.prefix == "" or task.prefix.endswith("\n"))
        lines = task.expected.count("\n") + 1
        assert lines == 1 if not multiline else 1 <= lines <= 4


def test_a_left_to_right_infill_prompt_is_the_end_of_the_prefix(tiny_model):
    lm = load_model(tiny_model)
    prefix = "def add(a, b):\n" * 200
    prompt = infill_prompt(lm, None, prefix, "SUFFIX_NEVER_SEEN\n", None, room=48)
    assert len(prompt) <= lm.context - 48
    assert prefix.endswith(lm.tokenizer.decode(prompt)) and "SUFFIX" not in lm.tokenizer.decode(prompt)
    # A file's first line is asked after the separator that starts every training file.
    assert infill_prompt(lm, None, "", "x = 1\n", None, room=48) == [lm.tokenizer.token_to_id("<|endoftext|>")]


def write_val_files(data: Path, repos: list[str]) -> None:
    data.mkdir()
    (data / "manifest.json").write_text("{}")
    rows = [{"repo": repo, "path": f"{repo}.py", "language": "python", "text": "x = 1\n"} for repo in repos]
    (data / "val_files.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_heldout_files_can_be_limited_to_one_source_folder(tmp_path):
    write_val_files(tmp_path / "data", ["python-stdlib", "requests"])
    assert heldout_files(tmp_path / "data", [], ["python-stdlib"]) == [("python-stdlib.py", "x = 1\n")]
    assert len(heldout_files(tmp_path / "data", [])) == 2


def test_an_unknown_source_folder_is_named_with_the_choices(tmp_path):
    from assistant.errors import CoveError

    write_val_files(tmp_path / "data", ["python-stdlib"])
    with pytest.raises(CoveError, match="no held-out files come from stdlib: choose among python-stdlib"):
        heldout_files(tmp_path / "data", [], ["stdlib"])


def test_humaneval_single_line_tasks_are_the_1033_solution_lines():
    tasks = single_line_tasks()
    assert len(tasks) == 1033 and len(problems()) == 164
    problem, task = tasks[0]
    assert task.prefix.startswith(problem["prompt"]) and "\n" not in task.expected


def last_lines() -> list:
    """Tasks masking a solution's last line: replacing it cannot break the indentation after it."""
    return [(problem, task) for problem, task in single_line_tasks() if not task.suffix.strip()]


@pytest.mark.parametrize("index", [0, 100])
def test_the_canonical_line_passes_and_a_wrong_one_fails(index):
    problem, task = last_lines()[index]
    assert passes(problem, task.prefix, task.expected + task.suffix, timeout=10)
    indent = task.expected[:len(task.expected) - len(task.expected.lstrip())]
    assert not passes(problem, task.prefix, indent + "raise ValueError('wrong')" + task.suffix, timeout=10)


def test_runaway_program_is_stopped_by_the_timeout():
    problem, task = last_lines()[0]
    indent = task.expected[:len(task.expected) - len(task.expected.lstrip())]
    started = time.monotonic()
    assert not passes(problem, task.prefix, indent + "while True: pass" + task.suffix, timeout=1)
    assert 1 <= time.monotonic() - started < 30


def test_completion_stops_at_the_next_top_level_statement():
    assert truncate("    return x\n\ndef other():\n    pass") == "    return x\n"
    assert truncate("    return x\n") == "    return x\n"


def test_bits_per_byte_follows_from_the_loss(tiny_model):
    lm = load_model(tiny_model)
    texts = [text for _, text in FILES[:2]]
    loss, bpb = text_loss(lm, texts, seq_len=128)
    tokens = sum(len(lm.tokenizer.encode(t).ids) + 1 for t in texts) - 1
    assert bpb == pytest.approx(loss * tokens / math.log(2) / sum(len(t.encode()) for t in texts))


@pytest.mark.slow
def test_eval_command_reports_every_metric(tmp_path, tiny_model):
    repo = write_repo(tmp_path / "repo", {f"m{i}.py": code_file(f"e{i}") for i in range(3)})
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "assistant", "eval", str(tiny_model), "--repo", str(repo), "--infill", "2",
               "--humaneval", "1", "--humaneval-infill", "2", "--samples", "2", "--pass-k", "1,2", "--max-new-tokens", "32",
               "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results) == {"heldout_loss", "heldout_bits_per_byte", "infill_exact_match_single_line",
                            "infill_exact_match_multi_line", "humaneval_pass@1", "humaneval_pass@2",
                            "humaneval_single_line_infill"}
    assert "heldout_bits_per_byte" in result.stdout


def test_eval_of_a_missing_model_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "assistant", "eval", str(tmp_path / "none"), "--humaneval", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "neither a transformers" in result.stderr
