"""The language server end to end: `cove lsp` as a subprocess, a real LSP client over stdio,
the tiny random GGUF. Outputs are random, so these check mechanics: ranges, encodings,
caching, cancellation, errors; never the text itself."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp.settings import Settings

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "assistant", "lsp"],
    # A data folder of its own: the servers record acceptance there, not in the user's.
    server_env={**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": "",
                "XDG_DATA_HOME": tempfile.mkdtemp(prefix="cove-lsp-test-")},
)
PYTHON = "import os\n\n\ndef add(a, b):\n    total = a + b\n    return \n\n\nprint(add(1, 2))\n"
#: Lines that each end in a word with text after it: the random model stops at once on
#: some prompts, so tests that need a completion try these lines in turn.
WORDS = "".join(f"value_{i} = compute_{i}(data)\n" for i in range(8))
#: Room for long generations, so a request is still generating when the test interrupts it.
SLOW = {"maxTokens": 1800, "timeBudgetMs": 30000}
pytestmark = pytest.mark.slow


@pytest_lsp.fixture(config=SERVER)
async def client(request, lsp_client: LanguageClient, tiny_gguf: Path):
    """A server initialized the way a real editor would (VS Code unless the test names
    another through indirect parametrization), with the tiny model."""
    editor = getattr(request, "param", "visual_studio_code")
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(editor), initialization_options={"model": str(tiny_gguf), "minConfidence": 0},
    ))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def slow_client(lsp_client: LanguageClient, slow_gguf: Path):
    """A server with the slow random model (milliseconds per token): its generations outlast
    a round trip to the server, so a test can interrupt one while it runs."""
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"),
        initialization_options={"model": str(slow_gguf), "minConfidence": 0},
    ))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def bare(lsp_client: LanguageClient):
    """A server the test initializes itself (to choose capabilities and options)."""
    yield
    await lsp_client.shutdown_session()


def open_document(client: LanguageClient, text: str, name: str = "example.py") -> str:
    uri = Path("/project", name).as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text)))
    return uri


def edit(client: LanguageClient, uri: str, version: int, at: types.Position, text: str) -> None:
    change = types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version), [change]))


def configure(client: LanguageClient, settings: dict) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"cove": settings}))


async def inline(client: LanguageClient, uri: str, line: int, character: int) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    ))
    return list(result.items)


async def complete(client: LanguageClient, uri: str, line: int, character: int) -> list[types.CompletionItem]:
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, character)))
    return list(result.items)


def word_ends(text: str, word: str = "compute_") -> list[types.Position]:
    """Positions right after `word` and its number on each line, in UTF-16 units."""
    positions = []
    for number, line in enumerate(text.splitlines()):
        if word in line:
            end = line.index("(", line.index(word))
            positions.append(types.Position(number, len(line[:end].encode("utf-16-le")) // 2))
    return positions


async def first_completion(client: LanguageClient, uri: str, positions: list[types.Position], request=None):
    """The first of `positions` where the tiny model writes something, and what it wrote."""
    for position in positions:
        items = await (request or inline)(client, uri, position.line, position.character)
        if items:
            return position, items
    pytest.fail("the tiny model completed none of the positions")


async def status(client: LanguageClient) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))


async def test_initialize_advertises_inline_completion_and_the_completion_fallback(bare: LanguageClient):
    result = await bare.initialize_session(types.InitializeParams(capabilities=client_capabilities("neovim")))
    capabilities = result.capabilities
    assert capabilities.inline_completion_provider
    assert "." in capabilities.completion_provider.trigger_characters
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert result.server_info.name == "cove"


EDITORS = pytest.mark.parametrize("client", ["visual_studio_code", "neovim", "emacs"], indirect=True)


@EDITORS
async def test_inline_completion_is_placed_at_the_cursor(client: LanguageClient):
    uri = open_document(client, WORDS)
    position, items = await first_completion(client, uri, word_ends(WORDS))
    assert items[0].range == types.Range(position, position)
    last = (await status(client))["records"][-1]
    assert last["served_from"] == "model" and last["generated_tokens"] > 0


@EDITORS
async def test_completion_item_replaces_the_word_before_the_cursor(client: LanguageClient):
    uri = open_document(client, WORDS)
    position, items = await first_completion(client, uri, word_ends(WORDS), complete)
    start = types.Position(position.line, WORDS.splitlines()[position.line].index("compute_"))
    assert items[0].text_edit.range == types.Range(start, position)
    assert items[0].text_edit.new_text.startswith(f"compute_{position.line}")


async def test_the_end_of_a_last_line_without_a_newline_is_placed_on_that_line(client: LanguageClient):
    for number in range(8):
        line = f"result = compute_{number}"
        uri = open_document(client, WORDS + line, f"end{number}.py")
        if items := await inline(client, uri, 8, len(line)):
            break
    assert items[0].range.start == types.Position(8, len(line))


async def test_a_full_document_change_is_applied(client: LanguageClient):
    uri = open_document(client, "placeholder\n")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2), [types.TextDocumentContentChangeWholeDocument(WORDS)]))
    position, items = await first_completion(client, uri, word_ends(WORDS), complete)
    assert items[0].text_edit.new_text.startswith(f"compute_{position.line}")


async def test_typing_into_a_completion_is_served_from_the_cache(client: LanguageClient):
    uri = open_document(client, WORDS)
    position, items = await first_completion(client, uri, word_ends(WORDS))
    first = items[0].insert_text
    assert len(first) > 1
    edit(client, uri, 2, position, first[0])
    rest = await inline(client, uri, position.line, position.character + 1)
    assert [item.insert_text for item in rest] == [first[1:]]
    assert (await status(client))["records"][-1]["served_from"] == "cache"


async def test_the_next_keystroke_reuses_the_kv_cache(client: LanguageClient):
    uri = open_document(client, PYTHON)
    await inline(client, uri, 5, 11)
    edit(client, uri, 2, types.Position(5, 11), "x")
    await inline(client, uri, 5, 12)
    records = (await status(client))["records"]
    assert records[-1]["served_from"] == "model"
    assert records[-1]["cached_tokens"] >= records[-2]["prompt_tokens"] // 2


async def test_a_model_answer_reports_its_stages_in_order(client: LanguageClient):
    uri = open_document(client, PYTHON)
    while not (await status(client))["backend"]:
        await asyncio.sleep(0.05)  # a request during the load has a `loading` stage too
    await inline(client, uri, 5, 11)
    record = (await status(client))["records"][-1]
    assert record["served_from"] == "model"
    assert list(record["stages"]) == ["document", "context", "queue", "prompt", "kv_reuse", "first_token",
                                      "generation", "handback", "postprocess", "reply"]
    assert all(ms >= 0 for ms in record["stages"].values())
    # from the completer's start to its record (the server's document and reply stages lie outside)
    inside = sum(ms for stage, ms in record["stages"].items() if stage not in ("document", "reply"))
    assert inside <= record["latency_ms"] + 0.1


async def longest_generation(client: LanguageClient, uri: str) -> tuple[types.Position, int]:
    """Of the WORDS positions, the one where the model runs longest before it stops, and
    how many tokens it writes there; the result cache is cleared afterwards."""
    configure(client, SLOW)
    runs = []
    for position in word_ends(WORDS):
        await inline(client, uri, position.line, position.character)
        runs.append(((await status(client))["records"][-1]["generated_tokens"], position))
    tokens, position = max(runs, key=lambda run: run[0])
    assert tokens >= 30, "the slow model stops early everywhere"
    configure(client, {**SLOW, "maxTokens": SLOW["maxTokens"] - 1})  # new settings: an empty result cache
    return position, tokens


#: Tries of an interruption: how long a random model runs at a position depends on what the
#: KV cache kept from the requests before (shifted cells differ slightly from fresh ones),
#: so the longest one measured may end before the interruption arrives. The slow model's
#: milliseconds per token leave a loaded machine tens of them for the round trip (the tiny
#: model's whole generation lasted 20 ms and, under load, could end first five times running).
TRIES = 5


async def interrupted(client: LanguageClient, uri: str, interrupt, ask=None) -> tuple[object, list[dict], int]:
    """Start the longest generation (`ask(position, attempt)`, an inline completion by
    default), call `interrupt(attempt)` once the server is computing it, and return what the
    request answered (or the exception it raised), the records since it was made and how
    many tokens the generation wrote when it ran to its end; again while it was not cut short."""
    ask = ask or (lambda position, attempt: inline(client, uri, position.line, position.character))
    position, tokens = await longest_generation(client, uri)
    for attempt in range(TRIES):
        configure(client, {**SLOW, "maxTokens": SLOW["maxTokens"] - 2 - attempt})  # an empty result cache
        before = (await status(client))["requests"]
        pending = asyncio.ensure_future(ask(position, attempt))
        while not (await status(client))["running"] and not pending.done():
            pass  # until the server has read the document for it and is generating
        await interrupt(attempt)
        try:
            answer = await asyncio.wait_for(pending, 10)
        except JsonRpcException as error:
            answer = error
        now = await status(client)
        records = now["records"][before - now["requests"]:]
        if any(r["served_from"] == "stale" for r in records):
            break
    return answer, records, tokens


async def test_a_request_made_stale_by_an_edit_returns_nothing_and_stops(slow_client: LanguageClient):
    client = slow_client
    uri = open_document(client, WORDS)

    async def edit_below(attempt: int) -> None:  # at the end: no measured position moves
        edit(client, uri, 2 + attempt, types.Position(len(WORDS.splitlines()), 0), "#")

    items, records, tokens = await interrupted(client, uri, edit_below)
    assert items == []
    assert records[0]["served_from"] == "stale" and records[0]["generated_tokens"] < tokens


async def test_a_newer_request_supersedes_a_running_one(slow_client: LanguageClient):
    client = slow_client
    uri = open_document(client, WORDS)
    newer: list[asyncio.Future] = []

    async def ask_elsewhere(attempt: int) -> None:
        newer.append(asyncio.ensure_future(inline(client, uri, 0, 0)))

    items, records, tokens = await interrupted(client, uri, ask_elsewhere)
    assert items == []
    await asyncio.wait_for(newer[-1], 30)
    stale = [r for r in (await status(client))["records"][-2:] if r["served_from"] == "stale"]
    assert len(stale) == 1 and stale[0]["generated_tokens"] < tokens


async def test_cancel_request_stops_the_generation(slow_client: LanguageClient):
    client = slow_client
    uri = open_document(client, WORDS)

    def ask(position: types.Position, attempt: int):
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))
        return client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=f"slow-{attempt}")

    async def cancel(attempt: int) -> None:
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=f"slow-{attempt}"))

    answer, records, _ = await interrupted(client, uri, cancel, ask)
    assert isinstance(answer, JsonRpcException) and "cancel" in str(answer)
    assert records[0]["served_from"] == "stale"
    assert await inline(client, uri, 0, 0) is not None  # and the worker is free again


@pytest.mark.parametrize(("encodings", "units"), [(None, "utf-16"), (["utf-8", "utf-16"], "utf-8")])
async def test_positions_after_non_ascii_text_are_read_in_the_negotiated_encoding(
        bare: LanguageClient, tiny_gguf: Path, encodings, units):
    general = types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None
    result = await bare.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(general=general), initialization_options={"model": str(tiny_gguf), "minConfidence": 0}))
    assert result.capabilities.position_encoding == units
    line = 'x = "😀é" + total'
    uri = open_document(bare, f"{line} + 1\n")
    character = len(line.encode("utf-16-le")) // 2 if units == "utf-16" else len(line.encode("utf-8"))
    items = await complete(bare, uri, 0, character)
    assert items
    assert items[0].text_edit.range == types.Range(types.Position(0, character - 5), types.Position(0, character))
    assert items[0].text_edit.new_text.startswith("total")


async def test_crlf_documents_get_positions_and_line_ends_right(client: LanguageClient):
    text = "def f():\r\n    pass\r\n" + WORDS.replace("\n", "\r\n")
    uri = open_document(client, text)
    position, items = await first_completion(client, uri, word_ends(text), complete)
    start = types.Position(position.line, text.splitlines()[position.line].index("compute_"))
    assert items[0].text_edit.range == types.Range(start, position)
    inserted = items[0].text_edit.new_text
    assert inserted.count("\n") == inserted.count("\r\n")


@pytest.mark.parametrize("text", ["x = 1\n" * 900_000, "GIF89a\x00\x01\x02\x00binary\n"], ids=["5MB", "binary"])
async def test_huge_and_binary_files_get_no_completion(client: LanguageClient, text: str):
    uri = open_document(client, text, "data.bin")
    assert await inline(client, uri, 1, 0) == []
    assert await complete(client, uri, 1, 0) == []


async def test_a_document_that_was_never_opened_gets_no_completion(client: LanguageClient):
    assert await inline(client, Path("/project/missing.py").as_uri(), 0, 0) == []


async def test_a_model_that_cannot_load_is_shown_and_the_server_keeps_running(bare: LanguageClient, tiny_gguf: Path):
    await bare.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={"model": "/nonexistent/model.gguf"}))
    uri = open_document(bare, WORDS)
    assert await inline(bare, uri, 0, 19) == []
    errors = [m.message for m in bare.messages if m.type == types.MessageType.Error]
    assert any("not found" in m and "/nonexistent/model.gguf" in m for m in errors)
    configure(bare, {"model": str(tiny_gguf), "minConfidence": 0})
    reloaded = await bare.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.reloadModel"))
    assert reloaded["loaded"]
    await first_completion(bare, uri, word_ends(WORDS))


async def test_bad_settings_are_shown_and_the_old_ones_kept(client: LanguageClient):
    configure(client, {"maxTokens": "lots"})
    assert (await status(client))["settings"]["max_tokens"] == Settings().max_tokens
    assert any("maxTokens" in m.message for m in client.messages)


async def test_the_server_process_never_imports_torch(client: LanguageClient):
    uri = open_document(client, PYTHON)
    await inline(client, uri, 5, 11)
    maps = Path(f"/proc/{client._server.pid}/maps").read_text()
    assert "torch" not in maps
