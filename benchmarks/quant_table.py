"""Size, held-out perplexity, infill exact match and speed of one model in each GGUF type,
all through llama.cpp.

    python benchmarks/quant_table.py runs/default-model/cove-default-f16.gguf \
        --val runs/default-model/run/data/val_files.jsonl

Quantizes the f16 file with `cove quantize`'s code into a temporary folder, then, per type:
- perplexity of the held-out files (JSON lines with a "text" field, as `cove train` writes
  them) in non-overlapping windows: exp(mean negative log-likelihood per token);
- single-line infill exact match on held-out lines (`cove eval`'s tasks), asked through
  the editor path's `Engine.infill`, greedy, as the language server asks;
- generation speed: median tokens/s of `Engine.generate` over held-out file openings.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.stopping import StopRules
from convert.quantize import quantize
from convert.verify import load_llama, nll_of_llama
from training.evaluate import InfillTask, infill_tasks

TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0")


def token_windows(llama, texts: list[str], window: int, limit: int) -> list[list[int]]:
    """The held-out text as token windows of `window` tokens, at most `limit` tokens in all."""
    stream: list[int] = []
    for text in texts:
        stream += llama.tokenize(text.encode(), add_bos=False, special=False)
        if len(stream) >= limit:
            break
    stream = stream[:limit]
    return [stream[i:i + window] for i in range(0, len(stream) - 1, window) if len(stream[i:i + window]) > 1]


def perplexity(path: Path, texts: list[str], window: int, limit: int) -> tuple[float, float]:
    """(perplexity, tokens scored per second) of the model at `path`."""
    llama = load_llama(path, window)
    started, nll, count = time.perf_counter(), 0.0, 0
    for ids in token_windows(llama, texts, window, limit):
        nll += nll_of_llama(llama, ids)
        count += len(ids) - 1
    llama.close()
    return math.exp(nll / count), count / (time.perf_counter() - started)


def infill_and_speed(path: Path, tasks: list[InfillTask], openings: list[str], new_tokens: int) -> tuple[float, float]:
    """(single-line infill exact match, median generated tokens/s) through the editor path."""
    engine = Engine.load(EngineConfig(model=path, n_ctx=4096))
    line = StopRules(max_tokens=48, single_line=True)
    hits = sum(engine.infill(t.prefix, t.suffix, stop=line, path=t.path).result().strip() == t.expected.strip()
               for t in tasks)
    rates = []
    for opening in openings:
        generation = engine.generate(opening, stop=StopRules(max_tokens=new_tokens))
        generation.result()
        if generation.stats.generated_tokens >= new_tokens // 2:
            rates.append(generation.stats.tokens_per_second)
    engine.close()
    return hits / len(tasks) if tasks else float("nan"), statistics.median(rates) if rates else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("f16", type=Path, help="the model as an f16 GGUF")
    parser.add_argument("--val", type=Path, required=True, help="held-out files, JSON lines with a 'text' field")
    parser.add_argument("--window", type=int, default=512, help="tokens per scored window (default 512)")
    parser.add_argument("--tokens", type=int, default=100_000, help="held-out tokens to score (default 100,000)")
    parser.add_argument("--infill", type=int, default=300, help="single-line infill tasks (default 300)")
    parser.add_argument("--speed-runs", type=int, default=9, help="generations timed per type (default 9)")
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens per timed generation (default 128)")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.val.read_text().splitlines()]
    texts = [r["text"] for r in records]
    tasks = infill_tasks([(r["path"], r["text"]) for r in records], args.infill, multiline=False)
    openings = [text[:600] for text in texts[:args.speed_runs]]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = {"F16": args.f16}
        for type_name in TYPES:
            files[type_name] = Path(folder) / f"{type_name}.gguf"
            quantize(args.f16, files[type_name], type_name, progress=False)
        base = None
        for type_name, path in files.items():
            ppl, rate = perplexity(path, texts, args.window, args.tokens)
            match, speed = infill_and_speed(path, tasks, openings, args.new_tokens)
            base = base or ppl
            rows.append((type_name, path.stat().st_size / 1e6, ppl, ppl - base, match, rate, speed))
    print(f"{len(tasks)} single-line infill tasks; {len(openings)} timed generations of {args.new_tokens} tokens")
    print("| type | size (MB) | perplexity | vs f16 | infill exact match | tokens/s scored | tokens/s generated |")
    print("|---|---|---|---|---|---|---|")
    for type_name, size, ppl, delta, match, rate, speed in rows:
        print(f"| {type_name} | {size:.2f} | {ppl:.3f} | {delta:+.3f} | {match:.1%} | {rate:,.0f} | {speed:,.0f} |")


if __name__ == "__main__":
    main()
