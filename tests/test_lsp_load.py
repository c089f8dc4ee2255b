"""Messages sent while the model loads are all answered (issue 23).

The model loads on the completer's worker while the event loop keeps answering. Answers
written in that window used to vanish, so the client waited forever: llama-cpp-python
silences llama.cpp's loading by pointing the process's stdout at /dev/null, and stdout was
the protocol's channel (lsp/command.py now gives the protocol a descriptor of its own).
Here messages of every kind go out, pipelined, through the first load and repeated reloads
of a model big enough for its load to take a while; every request must be answered.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.lsp_raw import RawClient

pytestmark = pytest.mark.slow

#: Loads covered: the first (after `initialized`) and the reloads after it.
LOADS = 4
#: Pause between bursts: each load meets several of them.
PAUSE_S = 0.005
TEXT = "import os\n\n\ndef add(a, b):\n    total = a + b\n    return \n"


def burst(client: RawClient, n: int) -> list[int]:
    """One message of every kind the server takes, requests and notifications, well formed
    and not; the ids of the requests."""
    uri, other = "file:///load/a.py", f"file:///load/other{n}.py"
    at = {"textDocument": {"uri": uri}, "position": {"line": 5, "character": 11}}
    client.notify("textDocument/didOpen", {"textDocument": {"uri": other, "languageId": "python", "version": 0,
                                                             "text": TEXT}})
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": n + 1}, "contentChanges": [
        {"range": {"start": {"line": 5, "character": 11}, "end": {"line": 5, "character": 11}}, "text": "x"}]})
    client.notify("textDocument/didClose", {"textDocument": {"uri": other}})
    client.notify("workspace/didChangeConfiguration", {"settings": {"cove": {"maxTokens": 4 + n % 2}}})
    client.notify("$/cancelRequest", {"id": 10 ** 9})
    client.notify("$/setTrace", {"value": "off"})
    client.notify("cove/unknownNotification", {})
    client.send_body(b"{not json")
    client.send({"jsonrpc": "2.0", "id": 10 ** 9 + n, "result": None})  # an answer to nothing
    asked = [
        client.ask("textDocument/inlineCompletion", {**at, "context": {"triggerKind": 2}}),
        client.ask("textDocument/completion", at),
        client.ask("textDocument/documentHighlight", at),
        client.ask("workspace/executeCommand", {"command": "cove.status"}),
        client.ask("workspace/executeCommand", {"command": "cove.accepted", "arguments": ["no-such-id"]}),
        client.ask("workspace/executeCommand", {"command": "cove.noSuchCommand"}),
        client.ask("textDocument/completion", {"textDocument": 3, "position": "here"}),
        client.ask("cove/noSuchMethod", {}),
    ]
    return asked


def test_every_message_sent_while_the_model_loads_is_answered(slow_gguf: Path):
    client = RawClient({"model": str(slow_gguf), "maxTokens": 4, "minConfidence": 0})
    client.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///load/a.py", "languageId": "python",
                                                             "version": 0, "text": TEXT}})
    asked, bursts = [], itertools.count()
    for _ in range(LOADS):
        # A reload queues behind a running load, so the first one spans the initial load too.
        reload = client.ask("workspace/executeCommand", {"command": "cove.reloadModel"})
        deadline = time.monotonic() + 60
        while client.answer(reload, timeout=PAUSE_S) is None:
            assert time.monotonic() < deadline, "the reload was never answered"
            asked += burst(client, next(bursts))
    deadline = time.monotonic() + 20  # for the answers still on their way
    unanswered = [msg_id for msg_id in asked if client.answer(msg_id, max(0.0, deadline - time.monotonic())) is None]
    assert len(asked) >= 8 * LOADS
    assert unanswered == [], f"{len(unanswered)} of {len(asked)} requests sent during {LOADS} loads went unanswered"
    assert client.status()["backend"]
    assert client.close() == 0
