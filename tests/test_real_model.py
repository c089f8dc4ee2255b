"""The real-model tier: Gemma 3 270M base, a third-party GGUF from a registry package.

What the tiny random model cannot show: a 262k SentencePiece vocabulary, a model with no
FIM tokens and no chat template (left-to-right mode), a model that loops when decoded
greedily, and every front end on it (`complete`, `bench`, the LSP, chat). Outputs are a
real model's, so the tests check what a user would see: text that is there, that does not
loop, and that does not repeat the code after the cursor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.fim import Order, Piece
from assistant.gguf_file import gguf_summary
from assistant.loops import loop_cut
from assistant.stopping import StopRules

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

COVE = [sys.executable, "-m", "assistant"]
PALINDROME = 'def is_palindrome(text):\n    """True when text reads the same backwards."""\n    return '
SUFFIX = "\n\n\nprint(is_palindrome(\"level\"))\n"


def cove(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""}
    return subprocess.run([*COVE, *args], capture_output=True, text=True, input=stdin, env=env, timeout=300)


@pytest.fixture(scope="module")
def gemma(gemma_gguf: Path):
    engine = Engine.load(EngineConfig(model=gemma_gguf, n_ctx=1024))
    yield engine
    engine.close()


def test_the_header_is_read_without_the_vocabulary(gemma_gguf: Path):
    summary = gguf_summary(gemma_gguf)
    assert summary.architecture == "gemma3"
    assert (summary.fim_family, summary.chat_template) == (None, False)
    assert summary.mode == "left-to-right"


def test_auto_picks_left_to_right_for_a_model_without_fim_tokens(gemma: Engine):
    assert gemma.fim.order is Order.LEFT_TO_RIGHT
    assert gemma.supported_formats() == []


def test_prompt_building_tokenizes_as_llama_cpp_does(gemma: Engine):
    text = 'def f(x):\n\treturn {"a": x}  # ünïcode ✓ <start_of_turn> <eos>\n'
    ids = gemma.encode([Piece(text)])
    assert ids == gemma._llama.tokenize(text.encode(), add_bos=True, special=False)
    assert gemma.detokenize(ids[1:]) == text


def test_a_left_to_right_completion_sees_only_the_prefix(gemma: Engine):
    generation = gemma.infill(PALINDROME, SUFFIX, stop=StopRules(max_tokens=24, single_line=True))
    text = generation.result()
    assert text.strip()
    assert generation.stats.prompt_tokens == len(gemma.encode([Piece(PALINDROME)]))


def test_greedy_continuation_of_repetitive_code_stops_at_the_loop(gemma: Engine):
    prompt = "".join(f'print(is_palindrome("{w}"))\n' for w in ("level", "hello", "noon"))
    generation = gemma.generate(prompt, stop=StopRules(max_tokens=200))
    text = generation.result()
    assert loop_cut(text) is None
    assert generation.stats.stop_reason in ("loop", "eog")


def test_writing_the_next_line_of_the_suffix_ends_the_answer(gemma: Engine):
    prefix = "import os\n\n\ndef config_path(name):\n    base = os.path.expanduser('~/.config')\n"
    suffix = "\n    return path\n"
    text = gemma.infill(prefix, suffix, stop=StopRules(max_tokens=64)).result()
    assert "return path" not in text


def test_cove_complete_on_the_real_model(gemma_gguf: Path, tmp_path: Path):
    source = tmp_path / "palindrome.py"
    source.write_text(PALINDROME + SUFFIX)
    result = cove("complete", str(source), "--line", "3", "--col", "12", "--json", "--model", str(gemma_gguf))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "left-to-right"
    assert report["text"].strip() and "\n" not in report["text"].strip("\n")


def test_doctor_names_left_to_right_mode(gemma_gguf: Path):
    result = cove("doctor", "--model", str(gemma_gguf))
    assert result.returncode == 0, result.stderr
    assert "left-to-right" in result.stdout


def test_bench_runs_on_the_real_model(gemma_gguf: Path):
    result = cove("bench", "--model", str(gemma_gguf), "--repeat", "1")
    assert result.returncode == 0, result.stderr
    assert "tokens/s" in result.stdout


def test_an_explicit_template_without_a_suffix_field_is_a_one_line_error(gemma_gguf: Path, tmp_path: Path):
    source = tmp_path / "x.py"
    source.write_text("x = 1\n")
    result = cove("complete", str(source), "--line", "1", "--col", "5", "--model", str(gemma_gguf),
                  "--fim-format", "<PRE> {prefix} <MID>")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "{suffix}" in result.stderr
