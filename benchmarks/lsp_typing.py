"""Typing replay: an editor types real source files character by character into `cove lsp`,
asking for an inline completion after every keystroke, and times each answer.

Figures (issue 5): p50 and p95 latency per completion; the share of prompt tokens taken
from the KV cache; the ratio of end-to-end latency to a bare llama-cpp-python call that
produces the same tokens from the same prompt (goal: at most 1.10x at p50); and warm
keystrokes against cold requests (goal: p50 at most 0.3x of a cold request).

The bare call is replayed right after each server run, in this process: the same prompts
(built by the same context and FIM functions, checked token for token by length), the
same number of sampled tokens, in the same order, so llama-cpp-python reuses its KV cache
exactly as the server's engine did. Each file gets a fresh server with extra context off,
which keeps every prompt reconstructible.

    .venv/bin/python benchmarks/lsp_typing.py [--work /tmp/cove-bench] [--keystrokes 150]
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


class Replay:
    """One server, one client, and what each request saw and cost."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.requests: list[dict] = []  # {"path", "text", "offset", "ms", "kind"}

    async def complete(self, uri: str, text: str, offset: int, kind: str) -> None:
        started = time.perf_counter()
        await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position_of(text, offset),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        self.requests.append({"path": Path(uri[len("file://"):]).as_posix(), "text": text, "offset": offset,
                              "ms": 1000 * (time.perf_counter() - started), "kind": kind})

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "python", 0, text)))
        return uri

    async def type_file(self, name: str, anchor: str, keystrokes: int) -> list[tuple[str, str, int]]:
        """Type the lines of `name` from `anchor` on, at least `keystrokes` characters, into
        an empty line where they were; return the spots for cold requests (line ends)."""
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
        ends = [start + i + 1 for i, c in enumerate(typed[:-1]) if typed[i + 1] == "\n"]
        return [(uri, text, offset) for offset in ends]


async def run_server(model: Path, name: str, anchor: str, keystrokes: int, fim_format: str) -> tuple[Replay, dict, int]:
    """A fresh server: type one file, then the cold requests; its status and peak RSS."""
    client = LanguageClient("cove-bench", "1")
    env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_N_THREADS": str(THREADS)}
    await client.start_io(sys.executable, "-m", "assistant", "lsp", "--model", str(model), env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={**SETTINGS, "fimFormat": fim_format}))
    client.initialized(types.InitializedParams())
    replay = Replay(client)
    spots = await replay.type_file(name, anchor, keystrokes)
    elsewhere = stdlib_file(ELSEWHERE).read_text()
    far = replay.open(Path("/work", ELSEWHERE), elsewhere)
    for uri, text, offset in spots:
        await replay.complete(far, elsewhere, elsewhere.index("\n", len(elsewhere) // 2), "elsewhere")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"cove": {}}))
        await replay.complete(uri, text, offset, "cold")  # (an unchanged configuration empties the result cache)
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
    peak_kb = int(next(l for l in Path(f"/proc/{client._server.pid}/status").read_text().splitlines()
                       if l.startswith("VmHWM")).split()[1])
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return replay, status, peak_kb


def bare_times(model: Path, fim_format: str, replay: Replay, records: list[dict]) -> list[float]:
    """The same prompts through llama-cpp-python alone, sampling as many tokens as the
    engine did for each model-served request, in the same order (NaN for the others)."""
    from llama_cpp import Llama

    from assistant.config import EngineConfig
    from assistant.engine import Engine

    settings = Settings().updated(SETTINGS)
    engine = Engine.load(EngineConfig(model=model, n_ctx=settings.n_ctx, fim_format=fim_format, n_threads=THREADS))
    bare = Llama(model_path=str(model), n_ctx=settings.n_ctx, n_batch=512, n_threads=THREADS, verbose=False)
    budget = context.Budget(settings.prefix_tokens, settings.suffix_tokens, settings.extra_tokens)
    count = lambda text: len(engine.tokenize(text))  # noqa: E731
    times = []
    for request, record in zip(replay.requests, records):
        if record["served_from"] != "model":
            times.append(float("nan"))
            continue
        window = context.window(request["text"], request["offset"], budget, count)
        pieces = engine.fim.layout(window.prefix, window.suffix, path=request["path"])
        prompt = engine._encode(pieces)  # the engine's own piece-by-piece tokenization
        assert len(prompt) == record["prompt_tokens"], "the bare prompt is the server's prompt"
        samples = record["generated_tokens"] + (record["stop_reason"] == "eog")
        started = time.perf_counter()
        for sampled, _ in enumerate(bare.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                                  repeat_penalty=1.0), start=1):
            if sampled >= samples:
                break
        times.append(1000 * (time.perf_counter() - started))
    engine.close()
    bare.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cove-bench"))
    parser.add_argument("--keystrokes", type=int, default=150, help="characters typed per file")
    parser.add_argument("--fim-format", default="auto", help="infill format setting (auto is PSM here; try spm:starcoder)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = build_model(args.work)
    requests, records, bare, peaks = [], [], [], []
    for name, anchor in FILES:
        replay, status, peak_kb = asyncio.run(run_server(model, name, anchor, args.keystrokes, args.fim_format))
        assert len(status["records"]) == len(replay.requests), "one status record per request"
        bare += bare_times(model, args.fim_format, replay, status["records"])
        requests += replay.requests
        records += status["records"]
        peaks.append(peak_kb)

    def rows(kind: str, served: str | None = None) -> list[int]:
        return [i for i, (r, rec) in enumerate(zip(requests, records))
                if r["kind"] == kind and (served is None or rec["served_from"] == served)]

    typing_all, typing_model, cold = rows("typing"), rows("typing", "model"), rows("cold", "model")
    ms = [r["ms"] for r in requests]
    model_rows = typing_model + cold
    prompt = sum(records[i]["prompt_tokens"] for i in typing_model)
    cached = sum(records[i]["cached_tokens"] for i in typing_model)
    figures = {
        "model": f"{model.name} ({model.stat().st_size / 1e6:.0f} MB), fim format {args.fim_format}",
        "keystrokes": len(typing_all),
        "served": {kind: sum(records[i]["served_from"] == kind for i in typing_all) for kind in ("model", "cache", "none")},
        "typing_all_p50_ms": percentile([ms[i] for i in typing_all], 0.5),
        "typing_all_p95_ms": percentile([ms[i] for i in typing_all], 0.95),
        "typing_model_p50_ms": percentile([ms[i] for i in typing_model], 0.5),
        "typing_model_p95_ms": percentile([ms[i] for i in typing_model], 0.95),
        "cold_p50_ms": percentile([ms[i] for i in cold], 0.5),
        "warm_to_cold_p50": percentile([ms[i] for i in typing_model], 0.5) / percentile([ms[i] for i in cold], 0.5),
        "cached_token_share": cached / prompt if prompt else 0.0,
        "mean_prompt_tokens": prompt / len(typing_model) if typing_model else 0.0,
        "mean_generated_tokens": statistics.mean(records[i]["generated_tokens"] for i in typing_model),
        "bare_typing_p50_ms": percentile([bare[i] for i in typing_model], 0.5),
        "ratio_p50_of_ratios": percentile([ms[i] / bare[i] for i in model_rows], 0.5),
        "ratio_of_p50s_typing": percentile([ms[i] for i in typing_model], 0.5)
        / percentile([bare[i] for i in typing_model], 0.5),
        "overhead_p50_ms": percentile([ms[i] - bare[i] for i in model_rows], 0.5),
        "server_peak_rss_mb": max(peaks) / 1024,
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
