"""`cove lsp` on pipes, spoken to byte for byte: what a typed LSP client cannot send (junk,
malformed params, requests pipelined without waiting), for tests/test_lsp_protocol.py and
tests/test_lsp_load.py."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time


class RawClient:
    """`cove lsp` on pipes, with hand-framed messages; answers are kept by id, so requests
    can be sent without waiting and their answers collected later."""

    def __init__(self, options: dict) -> None:
        env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""}
        self.process = subprocess.Popen([sys.executable, "-m", "assistant", "lsp"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=open("/tmp/raw-server.err", "a"), env=env)
        self._answers: dict[object, dict] = {}
        self._arrived = threading.Condition()
        self.ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                    "initializationOptions": options})
        self.notify("initialized", {})

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while (header := stream.readline()) not in (b"\r\n", b""):
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            if header == b"" or length is None:
                return
            message = json.loads(stream.read(length))
            if "id" in message and "method" not in message:
                with self._arrived:
                    self._answers[message["id"]] = message
                    self._arrived.notify_all()

    def send_body(self, body: bytes) -> None:
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def send(self, message: object) -> None:
        self.send_body(json.dumps(message).encode())

    def notify(self, method: str, params: object) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def ask(self, method: str, params: object) -> int:
        """Send a request without waiting; its id."""
        msg_id = next(self.ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def answer(self, msg_id: object, timeout: float = 30) -> dict | None:
        """The answer to request `msg_id` (the whole message: result or error), or None
        when none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while msg_id not in self._answers:
                if not self._arrived.wait(deadline - time.monotonic()):
                    return None
            return self._answers.pop(msg_id)

    def request(self, method: str, params: object, timeout: float = 30) -> dict:
        """Send a request and wait for its answer."""
        msg_id = self.ask(method, params)
        answer = self.answer(msg_id, timeout)
        assert answer is not None, f"no answer to {method} within {timeout:.0f} s"
        return answer

    def status(self) -> dict:
        return self.request("workspace/executeCommand", {"command": "cove.status"})["result"]

    def close(self) -> int:
        self.request("shutdown", None)
        self.notify("exit", None)
        return self.process.wait(timeout=30)
