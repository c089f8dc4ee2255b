"""The remote backend against a stand-in for llama.cpp's server: the /infill request it
sends, the stream it reads, authentication, errors and cancellation, windows sized from
its /props, and a failing server shown to the editor once per episode. (The local backend
is exercised end to end in test_lsp_server.py; a real llama-server in
test_lsp_llama_server.py.)"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from assistant.engine import StopRules
from assistant.errors import CoveError
from assistant.fim import ContextChunk
from lsp import backends
from lsp.backends import PROMPT_OVERHEAD, RemoteBackend, Request
from lsp.health import Health
from lsp.settings import Settings

REQUEST = Request("def f():\n    return ", "\n", (ContextChunk("util.py", "def g(): pass\n"),), "src/x.py",
                  StopRules(max_tokens=16, time_budget_s=0.5, single_line=True, stop_texts=()))


class FakeLlamaServer(ThreadingHTTPServer):
    """Answers POST /infill the way llama-server streams: `data: {json}` events, the last
    with `stop: true`, `stop_type` and `timings`; GET /props with its context size; POST
    /tokenize with one token per `BYTES_PER_TOKEN` bytes. `error` (while set) makes /infill
    fail as llama-server does, with HTTP 400 and a JSON message; `loading` answers 503 to
    that many requests first."""

    BYTES_PER_TOKEN = 4

    def __init__(self, pieces: list[str | dict], api_key: str = "", delay_s: float = 0.0, n_ctx: int = 512) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pieces, self.api_key, self.delay_s, self.n_ctx = pieces, api_key, delay_s, n_ctx
        self.error = ""
        self.loading = 0
        self.requests: list[tuple[dict, dict]] = []
        self.sent = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeLlamaServer

    def do_GET(self) -> None:
        if self._refused():
            return
        if self.path != "/props":
            return self.send_error(404)
        self._json(200, {"default_generation_settings": {"n_ctx": self.server.n_ctx}, "total_slots": 1})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self._refused():
            return
        if self.path == "/tokenize":
            size = len(body["content"].encode()) // self.server.BYTES_PER_TOKEN
            return self._json(200, {"tokens": list(range(size))})
        self.server.requests.append((body, dict(self.headers)))
        if self.path != "/infill":
            return self.send_error(404)
        if self.server.error:
            return self._json(400, {"error": {"code": 400, "message": self.server.error, "type": "exceed_context_size_error"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for piece in self.server.pieces:  # a dict is sent as it is (an error event)
                self._event(piece if isinstance(piece, dict) else {"content": piece, "stop": False})
                self.server.sent += 1
                time.sleep(self.server.delay_s)
            self._event({"content": "", "stop": True, "stop_type": "limit",
                         "timings": {"prompt_n": 30, "cache_n": 12, "predicted_n": len(self.server.pieces),
                                     "prompt_ms": 7.5}})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: it cancelled

    def _refused(self) -> bool:
        """Answered already: a wrong API key, or a model still loading."""
        if self.server.api_key and self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            self.send_error(401)
            return True
        if self.server.loading > 0:
            self.server.loading -= 1
            self._json(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})
            return True
        return False

    def _json(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, data: dict) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def llama_server():
    server = FakeLlamaServer(["re", "sult", " + 1"])
    yield server
    server.shutdown()


def test_the_request_carries_the_windows_chunks_and_stop_rules(llama_server: FakeLlamaServer):
    RemoteBackend(llama_server.url).infill(REQUEST, lambda: False)
    body, _ = llama_server.requests[0]
    assert (body["input_prefix"], body["input_suffix"]) == (REQUEST.prefix, REQUEST.suffix)
    assert body["input_extra"] == [{"filename": "util.py", "text": "def g(): pass\n"}]
    assert (body["n_predict"], body["t_max_predict_ms"], body["stop"]) == (16, 500, ["\n"])
    assert body["cache_prompt"] and body["stream"]


def test_streamed_pieces_make_the_result_with_the_servers_figures(llama_server: FakeLlamaServer):
    result = RemoteBackend(llama_server.url).infill(REQUEST, lambda: False)
    assert (result.text, result.stop_reason) == ("result + 1", "max_tokens")
    assert (result.prompt_tokens, result.cached_tokens, result.generated_tokens, result.prompt_ms) == (42, 12, 3, 7.5)


def with_probabilities(*tokens: tuple[str, float]) -> list[dict]:
    """Stream events of one token each, with the probability llama-server reports for it (`n_probs`)."""
    return [{"content": text, "stop": False, "completion_probabilities": [{"token": text, "logprob": math.log(p)}]}
            for text, p in tokens]


def test_the_gate_ends_a_remote_completion_at_its_first_unsure_token():
    server = FakeLlamaServer(with_probabilities(("re", 0.9), ("sult", 0.8), (" +", 0.2), (" 1", 0.9)) * 20,
                             delay_s=0.01)
    try:
        result = RemoteBackend(server.url).infill(dataclasses.replace(
            REQUEST, stop=dataclasses.replace(REQUEST.stop, min_probability=0.5)), lambda: False)
        assert (result.text, result.stop_reason) == ("result", "unsure")
        assert [chars for chars, _ in result.token_logprobs] == [2, 4]
        assert server.requests[0][0]["n_probs"] == 1
        time.sleep(0.1)
        assert server.sent < 80  # the stream was closed: the server stopped sending
    finally:
        server.shutdown()


def test_the_indentation_a_server_wrote_again_is_reported_as_healed():
    server = FakeLlamaServer(with_probabilities(("    ", 0.9), ("return", 0.8)))
    try:
        result = RemoteBackend(server.url).infill(Request("def f():\n    ", "\n", (), None, REQUEST.stop), lambda: False)
        assert (result.text, result.healed_chars, result.token_logprobs[0][0]) == ("return", 4, 4)
    finally:
        server.shutdown()


def test_a_server_that_reports_no_probabilities_is_not_gated(llama_server: FakeLlamaServer):
    result = RemoteBackend(llama_server.url).infill(dataclasses.replace(
        REQUEST, stop=dataclasses.replace(REQUEST.stop, min_probability=0.99)), lambda: False)
    assert (result.text, result.token_logprobs) == ("result + 1", ())


def test_a_cursor_in_fresh_indentation_is_asked_from_the_line_start():
    server = FakeLlamaServer(["    re", "turn"])
    try:
        request = Request("def f():\n    ", "\n", (), None, REQUEST.stop)
        assert RemoteBackend(server.url).infill(request, lambda: False).text == "return"
        assert server.requests[0][0]["input_prefix"] == "def f():\n"
    finally:
        server.shutdown()


def test_the_api_key_is_sent_as_a_bearer_token():
    server = FakeLlamaServer(["x"], api_key="s3cret")
    try:
        assert RemoteBackend(server.url, "s3cret").infill(REQUEST, lambda: False).text == "x"
        with pytest.raises(CoveError, match="HTTP 401.*apiKey"):
            RemoteBackend(server.url, "wrong").infill(REQUEST, lambda: False)
    finally:
        server.shutdown()


def test_an_unreachable_server_is_a_one_line_error():
    with pytest.raises(CoveError, match="cannot reach.*remoteUrl"):
        RemoteBackend("http://127.0.0.1:9").infill(REQUEST, lambda: False)


def test_cancelling_stops_reading_the_stream():
    server = FakeLlamaServer(["a"] * 200, delay_s=0.01)
    try:
        started = time.perf_counter()
        result = RemoteBackend(server.url).infill(REQUEST, lambda: time.perf_counter() - started > 0.1)
        assert result.stop_reason == "cancelled"
        assert len(result.text) < 100
    finally:
        server.shutdown()


@pytest.mark.slow
async def test_the_server_completes_through_the_remote_backend_with_the_same_clean_up():
    """The language server configured for a remote llama.cpp server: same windows, same
    post-processing (the suffix's own ")" is not repeated)."""
    llama = FakeLlamaServer(["a, b)", ")"])
    client = await ClientServerConfig(server_command=[sys.executable, "-m", "assistant", "lsp"]).start()
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"backend": "remote", "remoteUrl": llama.url, "apiKey": ""}))
        uri = Path("/project/x.py").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "python", 1, "total = add()\n")))
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=types.Position(0, 12),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        assert [item.insert_text for item in result.items] == ["a, b"]
        body, _ = llama.requests[0]
        assert (body["input_prefix"], body["input_suffix"]) == ("total = add(", ")\n")
        await client.shutdown_session()
    finally:
        await client.stop()
        llama.shutdown()



# ---- sizing from the server, its errors, and failures shown once ---------------------

CONTEXT_ERROR = "request (665 tokens) exceeds the available context size (512 tokens), try increasing it"


def remote_settings(url: str) -> Settings:
    return Settings(backend="remote", remote_url=url)


def test_loading_reads_the_context_size_and_measures_the_tokenizer(llama_server: FakeLlamaServer):
    backend = RemoteBackend.load(remote_settings(llama_server.url))
    assert backend.window_tokens == 512 - PROMPT_OVERHEAD
    assert backend.bytes_per_token == pytest.approx(backends.COUNT_SAFETY * FakeLlamaServer.BYTES_PER_TOKEN, rel=0.01)
    assert backend.count_tokens("x" * 320) == 100
    assert "n_ctx 512" in backend.description


def test_loading_waits_for_a_server_that_is_still_loading_its_model(llama_server: FakeLlamaServer):
    llama_server.loading = 2
    assert RemoteBackend.load(remote_settings(llama_server.url)).window_tokens == 512 - PROMPT_OVERHEAD


def test_loading_from_an_unreachable_server_is_a_one_line_error():
    with pytest.raises(CoveError, match="cannot reach.*remoteUrl"):
        RemoteBackend.load(remote_settings("http://127.0.0.1:9"))


def test_the_servers_own_error_message_is_passed_on(llama_server: FakeLlamaServer):
    llama_server.error = CONTEXT_ERROR
    with pytest.raises(CoveError, match=r"HTTP 400 to /infill: request \(665 tokens\) exceeds"):
        RemoteBackend(llama_server.url).infill(REQUEST, lambda: False)


def test_an_error_event_in_the_stream_is_an_error_not_an_empty_answer():
    server = FakeLlamaServer(["a", {"error": {"code": 500, "message": "context full"}}])
    try:
        with pytest.raises(CoveError, match="failed during /infill: context full"):
            RemoteBackend(server.url).infill(REQUEST, lambda: False)
    finally:
        server.shutdown()


def test_failures_are_reported_once_per_episode():
    reported: list[str] = []
    health = Health(reported.append)
    health.failed("down")
    health.failed("still down")
    assert reported == ["down"] and health.as_json()["lastError"] == "still down"
    health.recovered()
    assert not health.failing and health.last_error == "still down"
    health.failed("down again")
    assert reported == ["down", "down again"]


async def inline_at_end(client, uri: str, text: str):
    line = text.count("\n")
    return await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, len(text.split("\n")[-1])),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))


async def test_windows_fit_the_servers_context_and_a_failing_server_is_shown_once():
    """A 256-token server: every /infill fits it. The server then fails on every keystroke:
    one warning, the error in cove.status; it recovers and fails again: one more warning."""
    llama = FakeLlamaServer(["1"], n_ctx=256)
    client = await ClientServerConfig(server_command=[sys.executable, "-m", "assistant", "lsp"]).start()
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"backend": "remote", "remoteUrl": llama.url}))
        uri = Path("/project/big.py").as_uri()
        text = "".join(f"value_{n} = compute(value_{n - 1}, {n})\n" for n in range(1, 300)) + "total = "
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text)))

        async def keystroke(typed: str) -> list[str]:
            nonlocal text
            end = types.Position(text.count("\n"), len(text.split("\n")[-1]))
            text += typed
            version = len(text)
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [types.TextDocumentContentChangePartial(types.Range(end, end), typed)]))
            return [item.insert_text for item in (await inline_at_end(client, uri, text)).items]

        assert await keystroke("v") == ["1"]
        body, _ = llama.requests[-1]
        prompt_bytes = sum(len(body[k].encode()) for k in ("input_prefix", "input_suffix"))
        assert prompt_bytes / FakeLlamaServer.BYTES_PER_TOKEN + body["n_predict"] <= 256 - PROMPT_OVERHEAD

        def warnings() -> list[str]:
            return [m.message for m in client.messages if m.type == types.MessageType.Warning]

        async def health() -> dict:
            status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
            return status["backendHealth"]

        llama.error = CONTEXT_ERROR
        for typed in "alue_":
            assert await keystroke(typed) == []
        assert len(warnings()) == 1 and CONTEXT_ERROR in warnings()[0]
        assert (await health())["failing"] and CONTEXT_ERROR in (await health())["lastError"]

        llama.error = ""
        assert await keystroke("2") == ["1"]
        assert not (await health())["failing"] and CONTEXT_ERROR in (await health())["lastError"]
        llama.error = "the server broke again"
        assert await keystroke("9") == [] and await keystroke("9") == []
        assert len(warnings()) == 2 and "broke again" in warnings()[1]
        await client.shutdown_session()
    finally:
        await client.stop()
        llama.shutdown()
