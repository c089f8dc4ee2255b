"""The language server against bad input, byte for byte: malformed JSON-RPC, unknown methods,
and a property-based fuzz of messages and edits (hypothesis). A typed LSP client cannot send
what these send, so they speak JSON-RPC over the subprocess's pipes themselves."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lsp_raw import RawClient

pytestmark = pytest.mark.slow

METHOD_NOT_FOUND, INVALID_PARAMS = -32601, -32602


@pytest.fixture(scope="module")
def server(tiny_gguf: Path):
    client = RawClient({"model": str(tiny_gguf), "maxTokens": 4, "minConfidence": 0})
    yield client  # the first tests run while the model loads (tests/test_lsp_load.py: all answered)
    assert client.close() == 0


def test_malformed_params_are_answered_with_invalid_params(server: RawClient):
    answer = server.request("textDocument/completion", {"textDocument": 3, "position": "here"})
    assert answer["error"]["code"] == INVALID_PARAMS
    assert server.status()


def test_unknown_methods_are_answered_with_method_not_found(server: RawClient):
    assert server.request("cove/noSuchMethod", {})["error"]["code"] == METHOD_NOT_FOUND


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"jsonrpc": "2.0"}'])
def test_unreadable_messages_leave_the_server_running(server: RawClient, body: bytes):
    server.send_body(body)
    assert server.status()


def test_an_unknown_command_is_refused(server: RawClient):
    answer = server.request("workspace/executeCommand", {"command": "cove.noSuchCommand"})
    assert answer["error"]["code"] == INVALID_PARAMS


# ---- the fuzz: random edits and junk; the document must stay what the edits make it ------

#: LSP line ends only: pygls splits lines with str.splitlines, which also breaks at
#: \x0b, \x0c, \x1c-\x1e, \x85, \u2028 and \u2029 where LSP does not (a known pygls gap).
PIECES = ["a", "b", "x", " ", "\t", "(", ")", ":", "\n", "\r\n", "\r", "é", "中", "😀"]
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
#: Methods junk may name: everything the server handles except the lifecycle ones that end it.
METHODS = ["textDocument/completion", "textDocument/inlineCompletion", "textDocument/didChange",
           "textDocument/didOpen", "textDocument/didClose", "workspace/didChangeConfiguration",
           "workspace/executeCommand", "$/cancelRequest", "$/setTrace", "cove/unknown"]
junk = st.one_of(
    st.binary(max_size=30).map(lambda body: ("raw", body)),
    JSON.map(lambda value: ("json", value)),
    st.tuples(st.sampled_from(METHODS), JSON, st.one_of(st.none(), st.text(min_size=1, max_size=5).map("junk-".__add__)))
    .map(lambda m: ("json", {"jsonrpc": "2.0", "method": m[0], "params": m[1], **({"id": m[2]} if m[2] else {})})),
)


def lines_of(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def offset_of(text: str, line: int, character: int) -> int:
    """The reference model: an LSP position (UTF-16 units) as an index into `text`."""
    lines = lines_of(text)
    if line == len(lines):
        return len(text)
    start = sum(len(l) for l in lines[:line])
    units = 0
    for index, char in enumerate(lines[line].rstrip("\r\n")):
        if units >= character:
            return start + index
        units += utf16_length(char)
    return start + len(lines[line].rstrip("\r\n"))


@st.composite
def positions(draw, text: str) -> tuple[int, int]:
    """A valid position in `text`, on a character boundary (never inside a surrogate pair)."""
    lines = lines_of(text)
    last = len(lines) if (not lines or text.endswith(("\n", "\r"))) else len(lines) - 1
    line = draw(st.integers(0, last))
    content = lines[line].rstrip("\r\n") if line < len(lines) else ""
    column = draw(st.integers(0, len(content)))
    return line, utf16_length(content[:column])


documents = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), initial=texts)
def test_random_edits_and_junk_never_kill_the_server_or_corrupt_its_documents(server: RawClient, data, initial):
    uri = f"file:///fuzz/doc{next(documents)}.py"
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 0,
                                                             "text": initial}})
    text, version = initial, 0
    for _ in range(data.draw(st.integers(1, 8), label="steps")):
        kind = data.draw(st.sampled_from(["edit", "edit", "full", "junk", "complete"]), label="kind")
        if kind == "junk":
            form, value = data.draw(junk, label="junk")
            server.send_body(value) if form == "raw" else server.send(value)
        elif kind == "complete":
            line, character = data.draw(positions(text), label="cursor")
            answer = server.request("textDocument/inlineCompletion", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": character},
                "context": {"triggerKind": 2}})
            assert "result" in answer, answer
        else:
            version += 1
            new = data.draw(texts, label="text")
            if kind == "full":
                change, text = {"text": new}, new
            else:
                start, end = sorted([data.draw(positions(text), label="start"), data.draw(positions(text), label="end")])
                change = {"range": {"start": {"line": start[0], "character": start[1]},
                                    "end": {"line": end[0], "character": end[1]}}, "text": new}
                text = text[:offset_of(text, *start)] + new + text[offset_of(text, *end):]
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                     "contentChanges": [change]})
    seen = server.status()["documents"][uri]
    assert seen == {"version": version, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


# ---- the command line ----------------------------------------------------------------


def test_tcp_transport_answers_initialize():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "COVE_CONFIG": os.devnull}
    process = subprocess.Popen([sys.executable, "-m", "assistant", "lsp", "--tcp", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        connection = _connect(port)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
        connection.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        reader = connection.makefile("rb")
        length = int(reader.readline().split(b":")[1])
        while reader.readline() != b"\r\n":
            pass
        answer = json.loads(reader.read(length))
        assert answer["result"]["serverInfo"]["name"] == "cove"
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_bad_tcp_address_is_a_one_line_error():
    result = subprocess.run([sys.executable, "-m", "assistant", "lsp", "--tcp", "nowhere"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["cove: error: --tcp 'nowhere' is not HOST:PORT: use e.g. --tcp 127.0.0.1:2087"]
