"""`cove lsp` start-up and memory: time from launch to the `initialize` answer, and the
server's resident memory once the model is loaded and has answered a completion.

Goals (issue 5): `initialize` answered in under 0.5 s; RSS under the model's size plus
150 MB. The model loads in the background after `initialized`, so the first figure is the
interpreter, pygls and the server itself.

    .venv/bin/python benchmarks/lsp_startup.py [--work /tmp/cove-bench] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lsp_model import build_model, stdlib_file  # noqa: E402


def memory_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


async def one_run(model: Path) -> dict[str, float]:
    client = LanguageClient("cove-bench", "1")
    started = time.perf_counter()
    await client.start_io(sys.executable, "-m", "assistant", "lsp", "--model", str(model),
                          env={**os.environ, "COVE_CONFIG": os.devnull})
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    initialize_ms = 1000 * (time.perf_counter() - started)
    client.initialized(types.InitializedParams())
    text = stdlib_file("textwrap.py").read_text()
    uri = Path("/work/textwrap.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 0, text)))
    end_of_line = text.index("\n", text.index("        # Arrange in reverse order"))  # a spot that completes
    line, column = text[:end_of_line].count("\n"), end_of_line - text.rfind("\n", 0, end_of_line) - 1
    await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, column),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    first_completion_ms = 1000 * (time.perf_counter() - started)
    memory = memory_mb(client._server.pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"initialize_ms": initialize_ms, "first_completion_ms": first_completion_ms, **memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cove-bench"))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = build_model(args.work)
    runs = [asyncio.run(one_run(model)) for _ in range(args.runs)]
    model_mb = model.stat().st_size / 2**20
    figures = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    figures |= {
        "initialize_ms_all": [round(run["initialize_ms"]) for run in runs],
        "model_mb": model_mb,
        "rss_above_model_mb": figures["VmRSS"] - model_mb,
        "peak_rss_above_model_mb": figures["VmHWM"] - model_mb,
    }
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
