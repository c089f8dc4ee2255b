"""Warm-up (Completer.warm, the documentHighlight cue): the prompt at a cursor is evaluated
in idle time, in steps, and any real request stops it."""

from __future__ import annotations

import asyncio

import pytest

from lsp.completer import WARM_STAGES, Completer, Cursor
from lsp.settings import Settings
from tests.test_lsp_completer import loaded, unchanged

TEXT = "".join(f"value_{i} = compute({i})\n" for i in range(40)) + "result = "


def at_end(text: str = TEXT) -> Cursor:
    return Cursor("file:///x.py", "/x.py", text, len(text), 1)


@pytest.fixture
async def fake_completer():
    async with loaded(Settings(max_tokens=8, time_budget_ms=5000)) as instance:
        yield instance


async def test_the_prompt_is_evaluated_in_steps_that_end_with_the_whole_prefix(fake_completer: Completer):
    await fake_completer.warm(at_end())
    started = fake_completer.backend.started
    assert len(started) == WARM_STAGES
    assert all(TEXT.startswith(step) for step in started) and started[-1] == TEXT
    assert [len(step) for step in started] == sorted(len(step) for step in started)
    assert not fake_completer.history  # nothing shown, nothing recorded as a request


async def test_a_real_request_stops_the_warm_up(fake_completer: Completer):
    warming = fake_completer.warm(at_end())
    await asyncio.sleep(0)
    answer = await fake_completer.complete(at_end("other = "), unchanged)
    await warming
    started = fake_completer.backend.started
    assert answer == "x" * 8
    assert started[-1] == "other = " and len(started) <= 2  # at most one warm step ran first


async def test_a_warmed_cursor_completes_from_the_kv_cache(tiny_gguf):
    instance = Completer(Settings(model=str(tiny_gguf), n_ctx=1024, extra_tokens=0), log=lambda message: None)
    try:
        assert await instance.load() is None
        await instance.warm(at_end())
        await instance.complete(at_end(), unchanged)
        record = instance.history[-1]
        assert record.prompt_tokens > 100
        assert record.cached_tokens == record.prompt_tokens  # the prompt was waiting in the cache
    finally:
        instance.close()


async def test_over_stdio_the_cursor_cue_warms_the_first_completion(tiny_gguf, tmp_path):
    """An editor opens a file and puts the cursor down (documentHighlight); the first
    completion there evaluates no prompt token."""
    import os
    import sys

    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("warm-test", "1")
    env = {**os.environ, "COVE_CONFIG": os.devnull}
    await client.start_io(sys.executable, "-m", "assistant", "lsp", "--model", str(tiny_gguf), env=env)
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), initialization_options={"extraTokens": 0, "nCtx": 1024}))
        client.initialized(types.InitializedParams())
        uri = (tmp_path / "x.py").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, TEXT)))
        end = types.Position(line=TEXT.count("\n"), character=len("result = "))
        document = types.TextDocumentIdentifier(uri)
        assert not await client.text_document_document_highlight_async(
            types.DocumentHighlightParams(text_document=document, position=end))
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=document, position=end,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
        record = status["records"][-1]
        assert record["prompt_tokens"] > 100 and record["cached_tokens"] == record["prompt_tokens"]
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
