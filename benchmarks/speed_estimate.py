"""How close the advice's speed estimate is to a model's measured speed (issue 23).

`cove doctor` and `cove models list --catalogue` time models that are not on the machine
as this machine's milliseconds per token per GB (measured on random-weight probes,
assistant/machine_speed.py) times the file size. This measures the probes, then for each
model given: the estimate, llama.cpp's own time per token (single-token decodes, no Cove
work) and Cove's engine generating greedy tokens (what a completion pays), each the
fastest of a few rounds. Run under the shared lock: other programs only add time.

    .venv/bin/python benchmarks/speed_estimate.py [--threads 2] [--qwen-shape] [--model PATH[=QUANT] ...]

--qwen-shape adds a random-weight Q8_0 model of Qwen2.5-Coder 0.5B's shape (the
catalogue's smallest, 0.53 GB: tied embeddings, as in the real one); QUANT is the model's main
quantization tag (default Q8_0; `Q4_K_M` and other K-quants use the K-quant figure).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import locations, machine_speed  # noqa: E402
from assistant.probe_model import ProbeShape, write_probe  # noqa: E402

QWEN_05B = ProbeShape(hidden=896, ffn=4864, layers=24, heads=14, kv_heads=2, vocab=151936)
ROUNDS, TOKENS = 3, 16


def raw_ms(path: Path, threads: int) -> float:
    """llama.cpp's time per single-token decode: the fastest round's median."""
    from llama_cpp import Llama

    llama = Llama(model_path=str(path), n_ctx=512, n_batch=32, n_threads=threads, verbose=False)
    llama.eval([1])
    rounds = []
    for _ in range(ROUNDS):
        times = []
        for i in range(TOKENS):
            start = time.perf_counter()
            llama.eval([300 + i])
            times.append((time.perf_counter() - start) * 1000)
        rounds.append(statistics.median(times))
        llama.reset()
        llama.eval([1])
    llama.close()
    return min(rounds)


def engine_ms(path: Path, threads: int) -> float:
    """Cove's engine generating greedy tokens after SAMPLE_CODE: the fastest round."""
    from assistant.commands.bench import SAMPLE_CODE
    from assistant.config import EngineConfig
    from assistant.engine import Engine
    from assistant.stopping import StopRules

    engine = Engine.load(EngineConfig(model=path, n_threads=threads, n_ctx=1024))
    rounds = []
    for i in range(ROUNDS):
        generation = engine.generate(f"# {i}\n" + SAMPLE_CODE, stop=StopRules(max_tokens=TOKENS * 2, stop_loops=False))
        generation.result()
        s = generation.stats
        if s.generated_tokens > 1:
            rounds.append(s.generation_ms / (s.generated_tokens - 1))
    engine.close()
    return min(rounds) if rounds else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=machine_speed.default_threads())
    parser.add_argument("--model", action="append", default=[], metavar="PATH[=QUANT]")
    parser.add_argument("--qwen-shape", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="speed-estimate-") as folder:
        os.environ["XDG_CACHE_HOME"] = folder  # a fresh measurement, not the user's remembered one
        start = time.perf_counter()
        speed = machine_speed.measure(args.threads)
        print(f"probes: {', '.join(f'{q} {ms:.1f} ms/token/GB' for q, ms in speed.ms_per_gb.items())} "
              f"({args.threads} threads, measured in {time.perf_counter() - start:.1f} s)")
        models = [(Path(spec.partition("=")[0]), spec.partition("=")[2] or "Q8_0") for spec in args.model]
        if args.qwen_shape:
            path = Path(folder) / "qwen2.5-coder-0.5b-shape-random-q8_0.gguf"
            write_probe(path, QWEN_05B)
            models.append((path, "Q8_0"))
        models.insert(0, (locations.BUNDLED_MODEL, "Q8_0"))
        print("| model | size | quant | estimate ms/token | llama.cpp ms/token | Cove engine ms/token | "
              "llama.cpp / estimate | engine / estimate |")
        print("|---|---|---|---|---|---|---|---|")
        for path, quant in models:
            size = path.stat().st_size
            estimate = speed.token_ms(size, quant)
            raw, cove = raw_ms(path, args.threads), engine_ms(path, args.threads)
            print(f"| {path.name} | {size / 1e6:,.1f} MB | {quant} | {estimate:.2f} | {raw:.2f} | {cove:.2f} | "
                  f"{raw / estimate:.2f}x | {cove / estimate:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
