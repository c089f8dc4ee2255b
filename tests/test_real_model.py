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
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

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


def test_a_token_longer_than_32_bytes_is_written_whole(gemma: Engine):
    text = "\u2026" * 16  # one 48-byte token in Gemma's vocabulary
    assert len(gemma.tokenize(text)) == 1
    assert gemma.detokenize(gemma.tokenize(text)) == text


def test_a_left_to_right_completion_sees_only_the_prefix(gemma: Engine):
    generation = gemma.infill(PALINDROME, SUFFIX, stop=StopRules(max_tokens=24, single_line=True))
    text = generation.result()
    assert text.strip()
    head = gemma.detokenize(gemma.tokenize(PALINDROME)[-1:])  # token healing asks without it
    assert generation.stats.prompt_tokens == len(gemma.encode([Piece(PALINDROME[:-len(head)])]))


def test_a_cursor_inside_a_word_is_completed_from_the_word(gemma: Engine):
    """Token healing on a 262k-token vocabulary: `jo` is asked as the start of a word."""
    prefix = "import os\n\n\ndef config_path(base, name):\n    return os.path.jo"
    text = gemma.infill(prefix, "\n", stop=StopRules(max_tokens=8, single_line=True)).result()
    assert text.startswith("in(")


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
    result = cove("complete", str(source), "--line", "3", "--col", "12", "--json", "--min-confidence", "0",
                  "--model", str(gemma_gguf))
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


def test_convert_of_this_gguf_is_a_one_line_error(gemma_gguf, tmp_path):
    result = cove("convert", str(gemma_gguf), "-o", str(tmp_path / "out.gguf"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "already a GGUF" in result.stderr, result.stderr


async def test_chat_in_completion_mode_continues_code_without_looping(gemma_gguf, tmp_path):
    from assistant.chat import ChatConfig
    from assistant.store import Store
    from assistant.tui.app import CoveApp
    from assistant.tui.widgets.messages import MessageView
    from assistant.tui.widgets.prompt_input import PromptInput
    from assistant.tui.widgets.status import StatusBar

    db = tmp_path / "history.sqlite3"
    engine = Engine.load(EngineConfig(model=gemma_gguf, n_ctx=1024))
    app = CoveApp(Store(db), engine, config=ChatConfig(max_tokens=96), load_engine=lambda path: engine, cwd=tmp_path)
    async with app.run_test(size=(120, 34)) as pilot:
        screen = app.screen
        status = str(screen.query_one(StatusBar).render())
        assert "completion (code)" in status and "rep 1.1" in status
        screen.query_one(PromptInput).load_text("".join(f'print(is_palindrome("{w}"))\n' for w in ("level", "noon")))
        await pilot.press("enter")
        for _ in range(1200):
            if screen._reply is None and len(screen.query(MessageView)) == 2:
                break
            await pilot.pause(0.05)
        store = Store(db)
        try:
            reply = store.messages(1)[-1]
        finally:
            store.close()
        assert reply.role == "assistant" and reply.content.strip()
        assert loop_cut(reply.content) is None


LSP = ClientServerConfig(server_command=[*COVE, "lsp"],
                         server_env={**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""})


@pytest_lsp.fixture(config=LSP)
async def gemma_lsp(lsp_client: LanguageClient, gemma_gguf: Path):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("neovim"),
        initialization_options={"model": str(gemma_gguf), "minConfidence": 0, "timeBudgetMs": 5000},
    ))
    yield
    await lsp_client.shutdown_session()


async def test_the_language_server_completes_a_line_with_the_real_model(gemma_lsp: LanguageClient):
    text = PALINDROME + SUFFIX
    uri = Path("/project/palindrome.py").as_uri()
    gemma_lsp.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text)))
    position = types.Position(2, len("    return "))
    result = await gemma_lsp.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=position,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    items = list(result.items) if result else []
    assert items and items[0].insert_text.strip()
    assert 'print(is_palindrome("level"))' not in items[0].insert_text
    status = await gemma_lsp.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
    assert "left-to-right" in str(status)
