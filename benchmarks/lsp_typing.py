"""Typing replay: an editor types real source files character by character into `cove lsp`,
asking for an inline completion after every keystroke, and times each answer.

Figures (issue 5): p50 and p95 latency per completion; the share of prompt tokens taken
from the KV cache; the ratio of end-to-end latency to a bare llama-cpp-python call that
produces the same tokens from the same prompt (goal: at most 1.10x at p50); and warm
keystrokes against cold requests (goal: p50 at most 0.3x of a cold request), whole and up
to the first token (the prompt evaluation, which is what the KV cache saves).

Each server request is followed at once by its bare twin in this process: the same prompt
(rebuilt by the same context and FIM functions, checked by its token count), the same
number of sampled tokens, with a llama-cpp-python `Llama` that has seen the same prompts
in the same order (so it reuses its KV cache as the server's engine did). Pairing them in
time keeps the ratio honest on a machine whose load changes under the benchmark. Each
file gets a fresh server with extra context off, which keeps every prompt reconstructible.

    .venv/bin/python benchmarks/lsp_typing.py [--work /tmp/cove-bench] [--keystrokes 60] [--fim-format spm:starcoder]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lsp_model import build_model, stdlib_file  # noqa: E402

from lsp import context  # noqa: E402
from lsp.settings import Settings  # noqa: E402

#: Real files and the line where typing starts (the middle of a function body).
FILES = (("textwrap.py", "        # Arrange in reverse order"), ("shlex.py", "    def read_token(self):"))
#: Unrelated text the cold requests jump to first, so the KV cache holds nothing useful.
ELSEWHERE = "json/decoder.py"
#: Default settings but no chunks from other files, so that the bare replay can rebuild
#: every prompt exactly (a fresh server per file, one file open at a time).
SETTINGS = {"extraTokens": 0}
#: Cold requests per file.
COLD_SPOTS = 8
#: llama.cpp threads, server and bare alike: on 2 shared cores a second spinning thread
#: makes timings depend on the neighbours' load more than on the code.
THREADS = 1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def position_of(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line, len(text[offset - column:offset].encode("utf-16-le")) // 2)


class Bare:
    """llama-cpp-python alone, fed the prompts the server built."""

    def __init__(self, model: Path, fim_format: str) -> None:
        from llama_cpp import Llama

        from assistant.config import EngineConfig
        from assistant.engine import Engine

        settings = Settings().updated(SETTINGS)
        # The engine only lays prompts out and tokenizes them; `llama` does the timed work.
        self.engine = Engine.load(EngineConfig(model=model, n_ctx=settings.n_ctx, fim_format=fim_format,
                                               n_threads=THREADS))
        self.llama = Llama(model_path=str(model), n_ctx=settings.n_ctx, n_batch=512, n_threads=THREADS, verbose=False)
        self.budget = context.Budget(settings.prefix_tokens, settings.suffix_tokens, settings.extra_tokens)

    def count(self, text: str) -> int:
        return len(self.engine.tokenize(text))

    def time_ms(self, path: str, text: str, offset: int, record: dict) -> float:
        """The bare call for one model-served request: its prompt, as many samples."""
        window = context.window(text, offset, self.budget, self.count)
        prompt = self.engine.encode(self.engine.fim.layout(window.prefix, window.suffix, path=path))
        assert len(prompt) == record["prompt_tokens"], "the bare prompt is the server's prompt"
        samples = record["generated_tokens"] + (record["stop_reason"] == "eog")
        started = time.perf_counter()
        for sampled, _ in enumerate(self.llama.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                                        repeat_penalty=1.0), start=1):
            if sampled >= samples:
                break
        return 1000 * (time.perf_counter() - started)

    def close(self) -> None:
        self.engine.close()
        self.llama.close()


class Replay:
    """One server and its bare twin; per request: kind, latency, bare latency, server record."""

    def __init__(self, client: LanguageClient, bare: Bare) -> None:
        self.client, self.bare = client, bare
        self.rows: list[dict] = []

    async def complete(self, uri: str, text: str, offset: int, kind: str) -> None:
        started = time.perf_counter()
        await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position_of(text, offset),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        ms = 1000 * (time.perf_counter() - started)
        status = await self.client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
        record = status["records"][-1]
        bare = (self.bare.time_ms(Path(uri[len("file://"):]).as_posix(), text, offset, record)
                if record["served_from"] == "model" else float("nan"))
        self.rows.append({"kind": kind, "ms": ms, "bare_ms": bare, **record})

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "python", 0, text)))
        return uri

    async def type_file(self, name: str, anchor: str, keystrokes: int) -> list[tuple[str, str, int]]:
        """Type the lines of `name` from `anchor` on, at least `keystrokes` characters, into
        an empty line where they were; return the spots for cold requests (line ends spread
        over the file: where a user jumps to)."""
        source = stdlib_file(name).read_text()
        start = source.index(anchor)
        end = source.index("\n", start + keystrokes)
        typed = source[start:end]
        text = source[:start] + source[end:]
        uri = self.open(Path("/work", name), text)
        for version, char in enumerate(typed, start=1):
            offset = start + version - 1
            at = position_of(text, offset)
            text = text[:offset] + char + text[offset:]
            self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [types.TextDocumentContentChangePartial(range=types.Range(at, at), text=char)]))
            await self.complete(uri, text, offset + 1, "typing")
        line_ends = [i for i, c in enumerate(text) if c == "\n"]
        step = max(1, len(line_ends) // COLD_SPOTS)
        return [(uri, text, offset) for offset in line_ends[step // 2::step][:COLD_SPOTS]]


async def run_file(model: Path, bare: Bare, name: str, anchor: str, keystrokes: int, fim_format: str,
                   ) -> tuple[list[dict], int]:
    """A fresh server: type one file, then the cold requests; the rows and its peak RSS."""
    client = LanguageClient("cove-bench", "1")
    env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_N_THREADS": str(THREADS)}
    await client.start_io(sys.executable, "-m", "assistant", "lsp", "--model", str(model), env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={**SETTINGS, "fimFormat": fim_format}))
    client.initialized(types.InitializedParams())
    replay = Replay(client, bare)
    spots = await replay.type_file(name, anchor, keystrokes)
    elsewhere = stdlib_file(ELSEWHERE).read_text()
    far = replay.open(Path("/work", ELSEWHERE), elsewhere)
    for uri, text, offset in spots:
        await replay.complete(far, elsewhere, elsewhere.index("\n", len(elsewhere) // 2), "elsewhere")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"cove": {}}))
        await replay.complete(uri, text, offset, "cold")  # (an unchanged configuration empties the result cache)
    peak_kb = int(next(l for l in Path(f"/proc/{client._server.pid}/status").read_text().splitlines()
                       if l.startswith("VmHWM")).split()[1])
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return replay.rows, peak_kb


def figures(rows: list[dict]) -> dict:
    typing = [r for r in rows if r["kind"] == "typing"]
    warm = [r for r in typing if r["served_from"] == "model"]
    cold = [r for r in rows if r["kind"] == "cold" and r["served_from"] == "model"]
    timed = warm + cold
    return {
        "keystrokes": len(typing),
        "served": {kind: sum(r["served_from"] == kind for r in typing) for kind in ("model", "cache", "none", "stale")},
        "cold_requests": len(cold),
        "typing_all_p50_ms": percentile([r["ms"] for r in typing], 0.5),
        "typing_all_p95_ms": percentile([r["ms"] for r in typing], 0.95),
        "warm_p50_ms": percentile([r["ms"] for r in warm], 0.5),
        "warm_p95_ms": percentile([r["ms"] for r in warm], 0.95),
        "cold_p50_ms": percentile([r["ms"] for r in cold], 0.5),
        "warm_to_cold_p50": percentile([r["ms"] for r in warm], 0.5) / percentile([r["ms"] for r in cold], 0.5),
        "bare_warm_to_cold_p50": percentile([r["bare_ms"] for r in warm], 0.5)
        / percentile([r["bare_ms"] for r in cold], 0.5),
        "warm_first_token_p50_ms": percentile([r["prompt_ms"] for r in warm], 0.5),
        "cold_first_token_p50_ms": percentile([r["prompt_ms"] for r in cold], 0.5),
        "cached_token_share": sum(r["cached_tokens"] for r in warm) / sum(r["prompt_tokens"] for r in warm),
        "mean_prompt_tokens": statistics.mean(r["prompt_tokens"] for r in warm),
        "mean_generated_tokens": statistics.mean(r["generated_tokens"] for r in warm),
        "bare_warm_p50_ms": percentile([r["bare_ms"] for r in warm], 0.5),
        "end_to_end_over_bare_p50": percentile([r["ms"] / r["bare_ms"] for r in timed], 0.5),
        "end_to_end_over_bare_p95": percentile([r["ms"] / r["bare_ms"] for r in timed], 0.95),
        "overhead_p50_ms": percentile([r["ms"] - r["bare_ms"] for r in timed], 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cove-bench"))
    parser.add_argument("--keystrokes", type=int, default=60, help="characters typed per file (at least)")
    parser.add_argument("--fim-format", default="auto", help="infill format setting (auto is PSM here; try spm:starcoder)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = build_model(args.work)
    bare = Bare(model, args.fim_format)
    rows, peaks = [], []
    for name, anchor in FILES:
        file_rows, peak_kb = asyncio.run(run_file(model, bare, name, anchor, args.keystrokes, args.fim_format))
        rows += file_rows
        peaks.append(peak_kb)
    bare.close()
    result = {"model": f"{model.name} ({model.stat().st_size / 1e6:.0f} MB), fim format {args.fim_format}",
              **figures(rows), "server_peak_rss_mb": max(peaks) / 1024}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
