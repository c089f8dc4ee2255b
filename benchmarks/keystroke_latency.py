"""Keystroke latency at real model size (issue 14): `cove lsp` against llama-server, PSM and SPM.

An editor opens a real file, asks for a completion where typing starts, then types lines
into the middle of a function, asking for an inline completion after every change. A
newline arrives with its auto-indentation in the same change, as editors send it. The
same keystrokes go, with the same prefix and suffix windows (lsp/context.py, the server's
default budgets, no extra context), to llama-server's `/infill` (`-np 1 --cache-reuse
256`, built from the pinned llama-cpp-python's llama.cpp sources by tests/llama_server.py),
in PSM and with `--spm-infill`. Each run gets a fresh server, so its first request is
the first completion after opening the file.

Per run: p50/p95 latency per keystroke, the prompt tokens evaluated per keystroke, the
first completion after opening against the warm p50 (Cove: after the editor put the
cursor down and the warm-up it triggers ended; its duration is reported), and the
completions the time budget cut before their first line ended; for Cove, where each
keystroke's time went (the stages of `cove.status`, assistant/stopwatch.py, and the rest of
the round trip as `transport`) against the floor of decoding alone: the prompt batch plus
the generated tokens at the keystroke's per-token time. First, in the same run, the engine's
per-token time against llama-server's on the same model and threads (benchmarks/token_speed.py).
The model (default) has Qwen2.5-Coder-0.5B's
shape with random weights, converted and quantized Q8_0 by Cove (benchmarks/lsp_model.py);
`--model` runs another GGUF (the bundled one, for the no-regression check). Cove runs
twice: with its default confidence gate (a completion ends before the first token the
model gave less than that probability; random weights are unsure from the first token)
and ungated, generating every completion to its end as llama-server does.

    nice -n 19 .venv/bin/python benchmarks/keystroke_latency.py [--work /tmp/cove-bench14] [--model FILE]
        [--keystrokes 24] [--orders psm,spm] [--backends cove,cove-ungated,llama-server] [--no-repack]
        [--max-tokens 16] [--no-per-token]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import urllib.request
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lsp_model import QWEN_05B_SHAPE, build_model, stdlib_file  # noqa: E402
from lsp_typing import percentile, position_of  # noqa: E402
from token_speed import compare as per_token_speed  # noqa: E402

from lsp import context, postprocess  # noqa: E402
from lsp.backends import PROMPT_OVERHEAD  # noqa: E402
from lsp.settings import Settings  # noqa: E402
from tests.llama_server import LlamaServer, ensure_llama_server  # noqa: E402

#: Where typing starts: the middle of textwrap.TextWrapper._wrap_chunks, after an indentation.
FILE, ANCHOR = "textwrap.py", "chunks.reverse()"
#: The server's defaults but no extra context (both sides get the same windows); the tokens
#: generated per keystroke are capped on both sides (--max-tokens, 16 by default), so that
#: generation, which a random model never ends early, does not swamp the rest.
OPTIONS = {"extraTokens": 0}
SETTINGS = Settings().updated(OPTIONS)
#: llama.cpp threads, in-process and server alike: on 2 shared cores a second spinning
#: OpenMP thread makes timings depend on the neighbours more than on the code.
THREADS = 1
#: Records of requests the model computed ("gated": computed, then withheld as unsure).
COMPUTED = ("model", "gated")


def keystrokes(source: str, count: int) -> tuple[str, int, list[str]]:
    """The file with the typed lines removed, where they go, and the changes an editor
    sends while typing them again: one character each, but a newline together with the
    next line's indentation."""
    start = source.index(ANCHOR)
    end = source.index("\n", start + count)
    typed = source[start:end]
    changes: list[str] = []
    i = 0
    while i < len(typed):
        if typed[i] == "\n":
            indent = len(typed[i + 1:]) - len(typed[i + 1:].lstrip(" "))
            changes.append(typed[i:i + 1 + indent])
            i += 1 + indent
        else:
            changes.append(typed[i])
            i += 1
    return source[:start] + source[end:], start, changes


def fim_format(order: str) -> str:
    """The `fimFormat` setting of an order: `ltr` for a model without FIM tokens, else StarCoder's sentinels."""
    return order if order == "ltr" else f"{order}:starcoder"


class Cove:
    """`cove lsp` over stdio; one request: (latency ms, record, completion text)."""

    def __init__(self, model: Path, order: str, no_repack: bool, max_tokens: int, min_confidence: float | None) -> None:
        self.model, self.order, self.no_repack, self.max_tokens = model, order, no_repack, max_tokens
        #: The gate: None leaves the server's (the model's measured one, else the default).
        self.gate = {} if min_confidence is None else {"minConfidence": min_confidence}
        self.client = LanguageClient("cove-bench", "1")
        self.uri = ""

    async def start(self) -> None:
        env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_N_THREADS": str(THREADS)}
        command = [sys.executable, str(ROOT / "benchmarks" / "no_repack.py")] if self.no_repack else [sys.executable]
        await self.client.start_io(*command, "-m", "assistant", "lsp", "--model", str(self.model), env=env)
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={**OPTIONS, **self.gate, "maxTokens": self.max_tokens,
                                    "fimFormat": fim_format(self.order)}))
        self.client.initialized(types.InitializedParams())

    def open(self, text: str) -> None:
        self.uri = (Path("/work") / FILE).as_uri()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(self.uri, "python", 0, text)))

    async def rest(self, text: str, offset: int) -> float:
        """The editor puts the cursor down (documentHighlight, which warms the prompt there);
        the milliseconds until the warm-up ended."""
        started = time.perf_counter()
        await self.client.text_document_document_highlight_async(types.DocumentHighlightParams(
            text_document=types.TextDocumentIdentifier(self.uri), position=position_of(text, offset)))
        return 1000 * (time.perf_counter() - started)

    def change(self, version: int, text: str, offset: int, inserted: str) -> None:
        at = position_of(text, offset)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=self.uri, version=version),
            [types.TextDocumentContentChangePartial(range=types.Range(at, at), text=inserted)]))

    async def complete(self, text: str, offset: int) -> tuple[float, dict, str]:
        started = time.perf_counter()
        answer = await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(self.uri), position=position_of(text, offset),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        ms = 1000 * (time.perf_counter() - started)
        status = await self.client.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
        items = answer.items if isinstance(answer, types.InlineCompletionList) else (answer or [])
        completion = items[0].insert_text if items else ""
        record = status["records"][-1]
        return ms, {"evaluated": record["prompt_tokens"] - record["cached_tokens"], **record}, completion

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


class Server:
    """llama-server `/infill` with the windows `cove lsp` would send."""

    def __init__(self, model: Path, order: str, no_repack: bool, max_tokens: int) -> None:
        from llama_cpp import Llama

        self.order, self.max_tokens = order, max_tokens
        args = ["-np", "1", "--cache-reuse", "256", *(["--spm-infill"] if order == "spm" else []),
                *(["--no-repack"] if no_repack else [])]
        self.server = LlamaServer(ensure_llama_server(), model, n_ctx=SETTINGS.n_ctx, args=args, threads=THREADS)
        self.vocab = Llama(model_path=str(model), vocab_only=True, verbose=False)

    async def start(self) -> None:
        """Start the server; the windows shrink to its context as the remote backend's do
        (lsp/backends.py), for models trained on less than the settings' n_ctx."""
        self.server.start()
        with urllib.request.urlopen(self.server.url + "/props", timeout=60) as response:
            n_ctx = json.load(response)["default_generation_settings"]["n_ctx"]
        self.budget, self.max_tokens = context.fit(
            context.Budget(SETTINGS.prefix_tokens, SETTINGS.suffix_tokens, 0), self.max_tokens,
            n_ctx - PROMPT_OVERHEAD)

    def open(self, text: str) -> None:
        pass

    async def rest(self, text: str, offset: int) -> float:
        return 0.0  # llama-server has no warm-up

    def change(self, version: int, text: str, offset: int, inserted: str) -> None:
        pass

    def count(self, text: str) -> int:
        return len(self.vocab.tokenize(text.encode(), add_bos=False, special=False)) if text else 0

    async def complete(self, text: str, offset: int) -> tuple[float, dict, str]:
        window = context.window(text, offset, self.budget, self.count)
        line_end = text.find("\n", offset)
        rules = postprocess.rules_for(window.line_prefix, text[offset:line_end if line_end >= 0 else len(text)],
                                      multiline=SETTINGS.multiline,
                                      max_chars_after_cursor=SETTINGS.max_chars_after_cursor)
        # left to right: the prefix alone, as a plain completion (a model without FIM tokens)
        endpoint, prompt = (("/completion", {"prompt": window.prefix}) if self.order == "ltr" else
                            ("/infill", {"input_prefix": window.prefix, "input_suffix": window.suffix, "input_extra": []}))
        body = {**prompt, "n_predict": self.max_tokens, "t_max_predict_ms": SETTINGS.time_budget_ms, "top_k": 1,
                "temperature": 0.0, "cache_prompt": True, "stream": False,
                "stop": ["\n"] if rules is not None and rules.single_line else ["\n\n"]}
        request = urllib.request.Request(self.server.url + endpoint, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.load(response)
        ms = 1000 * (time.perf_counter() - started)
        timings = answer.get("timings", {})
        record = {"evaluated": timings.get("prompt_n", 0), "prompt_ms": timings.get("prompt_ms", 0.0),
                  "generated_tokens": timings.get("predicted_n", 0), "served_from": "model",
                  "stop_reason": "time" if answer.get("stop_type") == "limit" and timings.get("predicted_n", 0)
                  < self.max_tokens else answer.get("stop_type", "")}
        return ms, record, answer.get("content", "")

    async def stop(self) -> None:
        self.server.stop()
        self.vocab.close()


def stage_figures(rows: list[tuple[float, dict]]) -> dict:
    """Where Cove's keystrokes went: p50 per stage over the model-served ones; `transport`,
    the round trip less the server's stages (JSON-RPC both ways, pipes, pygls); `outside
    decoding`, the round trip less the engine's three decoding stages; and the distance to
    the floor of decoding alone (issue 23): the prompt batch plus the generated tokens, each
    at the keystroke's own per-token time (its generation stage over the tokens decoded in
    it), the batch counted at one token's time per token."""
    stages = list(dict.fromkeys(stage for _, record in rows for stage in record["stages"]))
    found: dict = {"stages_p50_ms": {stage: round(percentile([record["stages"].get(stage, 0.0) for _, record in rows],
                                                             0.5), 2) for stage in stages}}
    found["transport_p50_ms"] = percentile([ms - sum(record["stages"].values()) for ms, record in rows], 0.5)
    decoding = ("kv_reuse", "first_token", "generation")
    found["outside_decoding_p50_ms"] = percentile(
        [ms - sum(record["stages"].get(stage, 0.0) for stage in decoding) for ms, record in rows], 0.5)
    timed = [(ms, record) for ms, record in rows if record["generated_tokens"] > 1]
    if timed:
        floors = [(ms, record["stages"]["generation"] / (record["generated_tokens"] - 1)
                   * (record["evaluated"] + record["generated_tokens"])) for ms, record in timed]
        found["per_token_p50_ms"] = percentile(
            [record["stages"]["generation"] / (record["generated_tokens"] - 1) for _, record in timed], 0.5)
        found["decoding_floor_p50_ms"] = percentile([floor for _, floor in floors], 0.5)
        found["above_floor_p50_ms"] = percentile([ms - floor for ms, floor in floors], 0.5)
    return found


async def replay(backend: Cove | Server, count: int) -> dict:
    """Open the file, complete where typing starts, then type; the rows of every request."""
    text, offset, changes = keystrokes(stdlib_file(FILE).read_text(), count)
    await backend.start()
    try:
        backend.open(text)
        warm_up_ms = await backend.rest(text, offset)
        first = await backend.complete(text, offset)
        rows = []
        for version, inserted in enumerate(changes, start=1):
            backend.change(version, text, offset, inserted)
            text, offset = text[:offset] + inserted + text[offset:], offset + len(inserted)
            rows.append(await backend.complete(text, offset))
            print(json.dumps({"change": inserted, "ms": round(rows[-1][0]), **rows[-1][1]}), file=sys.stderr, flush=True)
    finally:
        await backend.stop()
    return {**figures(first, rows), "warm_up_ms": warm_up_ms}


def figures(first: tuple[float, dict, str], rows: list[tuple[float, dict, str]]) -> dict:
    model_rows = [(ms, record) for ms, record, _ in rows if record["served_from"] in COMPUTED]
    stages = stage_figures(model_rows) if model_rows and "stages" in model_rows[0][1] else {}
    latencies = [ms for ms, _, _ in rows]
    warm_p50 = percentile(latencies, 0.5)
    cut = [text for _, record, text in rows + [first] if record["stop_reason"] == "time" and "\n" not in text]
    return {
        "keystrokes": len(rows),
        "served_from_model": len(model_rows),
        "p50_ms": warm_p50,
        "p95_ms": percentile(latencies, 0.95),
        # the keystrokes the model answered (Cove serves some from its result cache; llama-server has none)
        "model_p50_ms": percentile([ms for ms, _ in model_rows], 0.5),
        "model_p95_ms": percentile([ms for ms, _ in model_rows], 0.95),
        "first_token_p50_ms": percentile([record["prompt_ms"] for _, record in model_rows], 0.5),
        "evaluated_tokens_mean": statistics.mean(record["evaluated"] for _, record in model_rows),
        "generated_tokens_mean": statistics.mean(record["generated_tokens"] for _, record in model_rows),
        "first_after_open_ms": first[0],
        "first_after_open_evaluated": first[1]["evaluated"],
        "first_over_warm_p50": first[0] / warm_p50,
        "cut_by_budget_before_first_line_end": len(cut),
        **stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cove-bench14"))
    parser.add_argument("--model", type=Path, help="GGUF to run (default: Qwen2.5-Coder-0.5B's shape, built in --work)")
    parser.add_argument("--keystrokes", type=int, default=20, help="characters typed (at least, to a line end)")
    parser.add_argument("--orders", default="psm,spm", help="psm, spm, ltr (left to right: models without FIM tokens)")
    parser.add_argument("--backends", default="cove,cove-ungated,llama-server",
                        help="cove: its default gate (the model's measured one, else minConfidence's default); "
                             "cove-ungated: every completion generated to its end")
    parser.add_argument("--no-repack", action="store_true",
                        help="llama.cpp without extra weight buffers (repack/AMX), in both processes: a native "
                             "build crashes on quantized weights on some AMX CPUs")
    parser.add_argument("--max-tokens", type=int, default=16, help="most tokens generated per keystroke, both sides")
    parser.add_argument("--no-per-token", action="store_true",
                        help="skip the per-token comparison of the engine and llama-server")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model or build_model(args.work, QWEN_05B_SHAPE, "qwen05b-shape")
    speed = None if args.no_per_token else per_token_speed(model, THREADS)
    if speed is not None:
        print(f"per token: {json.dumps(speed)}", file=sys.stderr, flush=True)
    makers = {"cove": lambda *a: Cove(*a, None), "cove-ungated": lambda *a: Cove(*a, 0.0), "llama-server": Server}
    results = {}
    for order in args.orders.split(","):
        for name in args.backends.split(","):
            backend = makers[name](model, order, args.no_repack, args.max_tokens)
            results[f"{name} {order}"] = asyncio.run(replay(backend, args.keystrokes))
            print(f"{name} {order}: {json.dumps(results[f'{name} {order}'])}", file=sys.stderr, flush=True)
    summary = {"model": f"{model.name} ({model.stat().st_size / 1e6:.0f} MB)", "machine": platform.processor()
               or platform.machine(), "cpus": os.cpu_count(), "threads": THREADS, "date": time.strftime("%Y-%m-%d"),
               "max_tokens": args.max_tokens, "per_token": speed,
               "results": {k: {f: round(v, 2) if isinstance(v, float) else v for f, v in r.items()}
                           for k, r in results.items()}}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
