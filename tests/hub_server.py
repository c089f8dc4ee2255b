"""A stand-in for the Hugging Face Hub on 127.0.0.1, serving the endpoints huggingface_hub calls.

- `GET /api/models/OWNER/NAME` (model_info, `?blobs=true`): the file listing with LFS sha256 and size;
- `HEAD /OWNER/NAME/resolve/REV/FILE`: the metadata headers hf_hub_download reads
  (X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag);
- `GET` of the same URL: the bytes, honouring `Range: bytes=N-`.
Unknown repositories and files answer 404 with the Hub's X-Error-Code. Knobs for failure
cases: `lie_about` (advertise a wrong sha256) and `drop_once` (cut the first body in half).
The `hub` fixture points huggingface_hub at it with an empty cache; no test goes online.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

COMMIT = "c0ffee" + "0" * 34


@dataclass
class FakeHub:
    """Repositories (repo id -> file name -> bytes) and a record of what clients asked."""

    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    #: Files whose advertised sha256 is wrong.
    lie_about: set[str] = field(default_factory=set)
    #: Files whose first GET sends only half the body, then closes the connection.
    drop_once: set[str] = field(default_factory=set)
    #: (method, path, Range header or None) per request.
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def sha256(self, name: str, data: bytes) -> str:
        return hashlib.sha256(b"not " + data if name in self.lie_about else data).hexdigest()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, body: bool) -> None:
            path = self.path.split("?")[0]
            hub.requests.append((self.command, path, self.headers.get("Range")))
            if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?", path):
                return self._model_info(match[1])
            if match := re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", path):
                return self._file(match[1], match[2], body)
            self._error(404, "EntryNotFound")

        def _model_info(self, repo_id: str) -> None:
            if repo_id not in hub.repos:
                return self._error(404, "RepoNotFound")
            siblings = [
                {"rfilename": name, "size": len(data), "blobId": "0" * 40,
                 "lfs": {"size": len(data), "sha256": hub.sha256(name, data), "pointerSize": 134}}
                for name, data in hub.repos[repo_id].items()
            ]
            payload = json.dumps({"id": repo_id, "sha": COMMIT, "siblings": siblings}).encode()
            self._reply(200, {"Content-Type": "application/json"}, payload)

        def _file(self, repo_id: str, name: str, body: bool) -> None:
            if repo_id not in hub.repos:
                return self._error(404, "RepoNotFound")
            if name not in hub.repos[repo_id]:
                return self._error(404, "EntryNotFound")
            data = hub.repos[repo_id][name]
            sha = hub.sha256(name, data)
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(data)), "Accept-Ranges": "bytes"}
            start = int(m[1]) if (m := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")) else 0
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            if not body:
                return self._reply(200, headers, b"", length=len(data))
            if name in hub.drop_once:
                hub.drop_once.discard(name)
                return self._reply(200, headers, data[: len(data) // 2], length=len(data), hang_up=True)
            self._reply(206 if start else 200, headers, data[start:])

        def _error(self, status: int, code: str) -> None:
            self._reply(status, {"X-Error-Code": code, "X-Repo-Commit": COMMIT}, b"{}")

        def _reply(self, status: int, headers: dict[str, str], payload: bytes,
                   length: int | None = None, hang_up: bool = False) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload) if length is None else length))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            if hang_up:
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


class HubServer:
    """The fake Hub running in a thread; `url` is what HF_ENDPOINT should be."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tiny_gguf(architecture: str = "qwen2", fim: bool = True, chat: bool = True) -> bytes:
    """A real GGUF header with no tensors: enough for `gguf_summary` (architecture, FIM tokens, template)."""
    import tempfile

    import gguf

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.gguf"
        writer = gguf.GGUFWriter(str(path), architecture)
        writer.add_name(f"tiny {architecture}")
        writer.add_context_length(256)
        writer.add_token_list(["a", "b"] + (["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"] if fim else []))
        if chat:
            writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A fake Hub with an empty repository list, and huggingface_hub pointed at it with an
    empty cache in tmp_path (no token, not offline); Cove's own config is empty too."""
    from huggingface_hub import constants

    server = HubServer(FakeHub())
    home = tmp_path / "hf"
    cache = home / "hub"
    for name, value in {"HF_HOME": home, "HF_HUB_CACHE": cache, "HF_ENDPOINT": server.url,
                        "COVE_CONFIG": tmp_path / "config.toml"}.items():
        monkeypatch.setenv(name, str(value))
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "COVE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub reads these at import time: point the already-imported module at the fake.
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    yield server
    server.stop()


def cached_files(cache: Path) -> list[Path]:
    """Every file under the cache's blobs/ and snapshots/ folders."""
    return [path for path in cache.rglob("*") if path.is_file() and {"blobs", "snapshots"} & set(path.parts)]
