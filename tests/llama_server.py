"""A real llama.cpp server for tests and benchmarks, built from the sources that the pinned
llama-cpp-python vendors, so the server and the in-process engine run the same llama.cpp.

The sdist comes from pip (its cache, else the package index: the only network use); only
the `llama-server` target is compiled (a few minutes on 2 cores, at idle priority), once
per llama-cpp-python version, into `~/.cache/cove/llama-server-VERSION/llama-server`.
Later calls reuse that binary. Linked statically, so it has no libraries beside it.

    binary = ensure_llama_server()                    # builds on first use
    with LlamaServer(binary, model, n_ctx=512) as server:
        requests.post(server.url + "/infill", ...)

    python -m tests.llama_server [--version 0.3.36]   # build now, print the binary's path
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from assistant.locations import cache_dir

PACKAGE = "llama-cpp-python"
#: `-march=native` minus Intel AMX: its kernels crash llama-server on virtual machines that
#: report AMX without enabling its tile state (general protection fault at the first
#: matrix product, seen here), and llama-cpp-python's own build has none. Undefining the
#: macros (applied after -march's) leaves ggml's AMX code out.
NO_AMX = "-U__AMX_TILE__ -U__AMX_INT8__ -U__AMX_BF16__"
#: What the build leaves out: no downloads (HTTPS, the prebuilt web UI), no tests or examples.
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}",
    "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
)


class LlamaServerError(RuntimeError):
    """The server could not be built or started; the message says why and what to install."""


def installed_version() -> str:
    """The llama-cpp-python version in this environment: the server is built to match it."""
    return importlib.metadata.version(PACKAGE)


def build_home(version: str) -> Path:
    """Where one version's sdist, sources, build tree and binary live."""
    return cache_dir() / f"llama-server-{version}"


def ensure_llama_server(version: str | None = None, jobs: int = 2, nice: int = 19) -> Path:
    """The path of a built `llama-server` for `version` (default: the installed
    llama-cpp-python), building it first when there is none. Safe to call from several
    processes at once: one builds, the others wait for it."""
    version = version or installed_version()
    home = build_home(version)
    binary = home / "llama-server"
    if binary.exists():
        return binary
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            _build(version, home, binary, jobs, nice)
    return binary


def _build(version: str, home: Path, binary: Path, jobs: int, nice: int) -> None:
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise LlamaServerError(f"building llama-server needs {tool} on PATH (e.g. apt-get install cmake g++)")
    source = _vendored_sources(version, home)
    build = home / "build"
    niced = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
    log = home / "build.log"
    with open(log, "w") as out:
        for command in ([*niced, "cmake", "-S", str(source), "-B", str(build), *CMAKE_OPTIONS],
                        [*niced, "cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)]):
            if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise LlamaServerError(f"building llama-server failed: {' '.join(command)}\n{_tail(log)}")
    built = build / "bin" / "llama-server"
    partial = binary.with_suffix(".partial")
    shutil.copy2(built, partial)
    os.replace(partial, binary)
    for scratch in (build, home / "src", home / "sdist"):  # the binary is self-contained
        shutil.rmtree(scratch)
    log.unlink()


def _vendored_sources(version: str, home: Path) -> Path:
    """vendor/llama.cpp of the llama-cpp-python sdist, unpacked under `home`."""
    unpacked = home / "src" / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if (unpacked / "CMakeLists.txt").exists():
        return unpacked
    sdists = home / "sdist"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               f"{PACKAGE}=={version}", "-d", str(sdists)]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(sdists.glob("*.tar.gz"))
    if done.returncode != 0 or not archives:
        raise LlamaServerError(f"could not get the {PACKAGE} {version} sdist: {' '.join(command)}\n{done.stderr[-2000:]}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(home / "src", filter="data")
    return unpacked


def terminate(process: subprocess.Popen, timeout: float = 10) -> None:
    """End a server process: SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LlamaServer:
    """`llama-server -m MODEL` on a free 127.0.0.1 port, up (its /health answers 200)
    between `start()` and `stop()`, or inside a `with` block."""

    def __init__(self, binary: Path, model: Path, n_ctx: int = 512, args: Sequence[str] = (),
                 threads: int = 2, startup_s: float = 120.0) -> None:
        self.binary, self.model, self.n_ctx = binary, model, n_ctx
        self.args, self.threads, self.startup_s = tuple(args), threads, startup_s
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlamaServer:
        self.port = free_port()
        handle, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        self.log_path = Path(name)
        command = [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                   "-c", str(self.n_ctx), "-t", str(self.threads), "--no-webui", *self.args]
        with os.fdopen(handle, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                message = f"llama-server exited with {self.process.returncode}:\n{self.log()}"
                self.stop()
                raise LlamaServerError(message)
            with contextlib.suppress(urllib.error.URLError, OSError):
                with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.1)
        message = f"llama-server was not healthy after {self.startup_s:.0f} s:\n{self.log()}"
        self.stop()
        raise LlamaServerError(message)

    def log(self) -> str:
        """The last lines the server wrote (for failure messages)."""
        return _tail(self.log_path) if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            terminate(self.process)
        self.process = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build llama-server from the pinned llama-cpp-python's sources")
    parser.add_argument("--version", help=f"{PACKAGE} version (default: the installed one)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs")
    args = parser.parse_args(argv)
    print(ensure_llama_server(args.version, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
