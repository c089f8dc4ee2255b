"""The remote backend against a real llama-server (built once from the llama.cpp sources
that the pinned llama-cpp-python vendors; tests/llama_server.py) serving the bundled
model with its own 512-token context, as a new user would run it: an editor types lines
of a real Python file into `cove lsp --remote-url`, and no keystroke may fail.

The first run builds llama-server (several minutes on 2 cores; cached in
~/.cache/cove/llama-server-VERSION); a machine without cmake or a compiler fails here,
loudly, rather than skipping."""

from __future__ import annotations

import dataclasses
import os
import sys
import textwrap
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from assistant.locations import BUNDLED_MODEL
from assistant.stopping import StopRules
from lsp.backends import RemoteBackend, Request
from tests.llama_server import LlamaServer, ensure_llama_server

pytestmark = pytest.mark.slow

#: The bundled model's training context: what llama-server gives each request.
N_CTX = 512
#: A real file of a few hundred lines (textwrap.py: 491), and where lines are typed into it.
SOURCE = Path(textwrap.__file__)
TYPED_NEAR = (120, 250, 400)
KEYSTROKES_PER_LINE = 8


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """One build per llama-cpp-python version, reused across sessions."""
    return ensure_llama_server()


@pytest.fixture(scope="module")
def llama_server(llama_server_binary: Path):
    with LlamaServer(llama_server_binary, BUNDLED_MODEL, n_ctx=N_CTX) as server:
        yield server


async def test_a_typing_replay_through_a_real_llama_server_never_fails(llama_server: LlamaServer):
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "assistant", "lsp", "--remote-url", llama_server.url],
        server_env={**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""})
    client = await config.start()
    try:
        # Ungated: this is about the transport and the windows (the bundled model is unsure
        # of most PSM completions, which the server's own FIM format gives it).
        await client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities(),
                                                               initialization_options={"minConfidence": 0}))
        lines = SOURCE.read_text().splitlines(keepends=True)
        uri, version, completions = SOURCE.as_uri(), 1, []
        for near in TYPED_NEAR:
            # A line's text is typed into an empty line at its place, lines below kept.
            number = next(n for n in range(near, len(lines)) if len(lines[n].strip()) > KEYSTROKES_PER_LINE)
            target = lines[number]
            indent = len(target) - len(target.lstrip())
            text = "".join(lines[:number]) + target[:indent] + "\n" + "".join(lines[number + 1:])
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri, "python", version, text)))
            for column in range(indent, indent + KEYSTROKES_PER_LINE):
                at = types.Position(number, column)
                version += 1
                client.text_document_did_change(types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    [types.TextDocumentContentChangePartial(types.Range(at, at), target[column])]))
                answer = await client.text_document_inline_completion_async(types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri), position=types.Position(number, column + 1),
                    context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
                completions += [item.insert_text for item in answer.items]
            client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
        await client.shutdown_session()
    finally:
        await client.stop()
    assert status["loadError"] is None and f"n_ctx {N_CTX}" in status["backend"]
    assert status["backendHealth"]["lastError"] is None, llama_server.log()
    assert not [m.message for m in client.messages if m.type != types.MessageType.Info]
    asked = [r for r in status["records"] if r["served_from"] == "model"]
    assert len(asked) >= len(TYPED_NEAR) * KEYSTROKES_PER_LINE // 2
    assert all(0 < r["prompt_tokens"] and r["prompt_tokens"] + r["generated_tokens"] < N_CTX for r in asked)
    assert any(c.strip() for c in completions), "the model never completed anything"


def test_a_real_server_reports_token_probabilities_and_the_gate_ends_the_stream(llama_server: LlamaServer):
    backend = RemoteBackend(llama_server.url)
    backend.size_from_server()
    request = Request("def add(a, b):\n    return a", "\n", (), None, StopRules(max_tokens=12))
    whole = backend.infill(request, lambda: False)
    assert whole.token_logprobs and sum(chars for chars, _ in whole.token_logprobs) == len(whole.text)
    unsure = backend.infill(dataclasses.replace(request, stop=StopRules(max_tokens=12, min_probability=1.0)),
                            lambda: False)
    assert (unsure.text, unsure.stop_reason, unsure.token_logprobs) == ("", "unsure", ())
