"""`cove lsp`: start the language server on stdio (what editors expect) or TCP.

Imports nothing heavy at module level: `cove --help` must stay fast. The model loads in
the background after `initialized`, so the editor gets its `initialize` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import BinaryIO

from assistant.errors import CoveError


def configure(parser: argparse.ArgumentParser) -> None:
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    transport.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead, e.g. 127.0.0.1:2087")
    parser.add_argument("--model", metavar="FILE.gguf", help="GGUF model (default: COVE_MODEL, config file, bundled model)")
    parser.add_argument("--remote-url", metavar="URL", help="use a llama.cpp server's /infill instead of a local model")
    parser.add_argument("--api-key", metavar="KEY", help="API key for --remote-url (or set COVE_API_KEY)")
    parser.add_argument("--n-ctx", type=int, metavar="N", help="context window of the local model in tokens")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="most tokens per completion")
    parser.add_argument("--time-budget-ms", type=int, metavar="MS", help="wall-clock limit per completion")


def run(args: argparse.Namespace) -> int:
    from lsp.server import create_server
    from lsp.settings import Backend, Settings

    options = {
        "model": args.model, "remote_url": args.remote_url, "api_key": args.api_key or os.environ.get("COVE_API_KEY"),
        "n_ctx": args.n_ctx, "max_tokens": args.max_tokens, "time_budget_ms": args.time_budget_ms,
        "backend": Backend.REMOTE if args.remote_url else None,
    }
    settings = Settings().updated({k: v for k, v in options.items() if v is not None})
    server = create_server(settings)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise CoveError(f"--tcp {args.tcp!r} is not HOST:PORT: use e.g. --tcp 127.0.0.1:2087")
        server.start_tcp(host, int(port))
    else:
        server.start_io(stdout=protocol_stdout())
    return 0


def protocol_stdout() -> BinaryIO:
    """The protocol's own copy of stdout, with the process's stdout (fd 1) pointed at stderr.

    llama-cpp-python silences llama.cpp while a model loads by pointing fds 1 and 2 at
    /dev/null. The model loads on a worker thread while the event loop keeps answering, so
    every answer written in that window was lost and its client waited forever (issue 23,
    tests/test_lsp_load.py). On a descriptor of its own the protocol is out of reach of
    that, and of anything a library prints to stdout, which would corrupt the stream."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel
