"""The remote backend against a stand-in for llama.cpp's server: the /infill request it
sends, the stream it reads, authentication, errors and cancellation. (The local backend
is exercised end to end in test_lsp_server.py.)"""

from __future__ import annotations

import json
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
from lsp.backends import RemoteBackend, Request

REQUEST = Request("def f():\n    return ", "\n", (ContextChunk("util.py", "def g(): pass\n"),), "src/x.py",
                  StopRules(max_tokens=16, time_budget_s=0.5, single_line=True, stop_texts=()))


class FakeLlamaServer(ThreadingHTTPServer):
    """Answers POST /infill the way llama-server streams: `data: {json}` events, the last
    with `stop: true`, `stop_type` and `timings`."""

    def __init__(self, pieces: list[str], api_key: str = "", delay_s: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pieces, self.api_key, self.delay_s = pieces, api_key, delay_s
        self.requests: list[tuple[dict, dict]] = []
        self.sent = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeLlamaServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((body, dict(self.headers)))
        if self.path != "/infill":
            return self.send_error(404)
        if self.server.api_key and self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            return self.send_error(401)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for piece in self.server.pieces:
                self._event({"content": piece, "stop": False})
                self.server.sent += 1
                time.sleep(self.server.delay_s)
            self._event({"content": "", "stop": True, "stop_type": "limit",
                         "timings": {"prompt_n": 30, "cache_n": 12, "predicted_n": len(self.server.pieces),
                                     "prompt_ms": 7.5}})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: it cancelled

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

