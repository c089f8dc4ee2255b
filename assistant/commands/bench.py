"""`cove bench`: how fast this model runs here, in the three numbers that decide completion latency.

cold prompt  - a fresh prompt of N tokens, nothing cached (opening a file, jumping elsewhere)
generation   - milliseconds per generated token
keystroke    - the same infill after typing one more character: only new tokens are evaluated
"""

from __future__ import annotations

import argparse
import json
import statistics

from assistant.commands.common import add_engine_arguments, load_engine
from assistant.stopping import StopRules

SAMPLE_CODE = '''def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()

'''


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].removeprefix("`cove bench`: ").capitalize() + "."
    parser.add_argument("--prompt-tokens", type=int, default=512, help="cold prompt length in tokens (default 512)")
    parser.add_argument("--gen-tokens", type=int, default=32, help="tokens to generate per request (default 32)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; medians are reported (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    engine = load_engine(args)
    code = _code_of_tokens(engine, args.prompt_tokens)
    stop = StopRules(max_tokens=args.gen_tokens, stop_loops=False)  # speed, not quality: let it run
    cold, generation, keystroke, cached = [], [], [], []
    for run_index in range(args.repeat):
        # A distinct first line defeats the prefix cache: every cold run evaluates the whole prompt.
        prefix = f"# run {run_index} {'x' * run_index}\n{code}"
        first = engine.infill(prefix, "\n", stop=stop)
        first.result()
        cold.append(first.stats.prompt_ms)
        if first.stats.generated_tokens > 1:
            generation.append(first.stats.generation_ms / (first.stats.generated_tokens - 1))
        typed = engine.infill(prefix + " ", "\n", stop=stop)
        typed.result()
        keystroke.append(typed.stats.total_ms)
        cached.append(typed.stats.cached_tokens / typed.stats.prompt_tokens)
    figures = {
        "model": engine.model_name,
        "path": str(engine.model_path),
        "prompt_tokens": first.stats.prompt_tokens,
        "cold_prompt_ms": statistics.median(cold),
        "cold_prompt_tokens_per_s": first.stats.prompt_tokens / statistics.median(cold) * 1000,
        "generation_ms_per_token": statistics.median(generation) if generation else None,
        "keystroke_ms": statistics.median(keystroke),
        "keystroke_cached_share": statistics.median(cached),
        "repeat": args.repeat,
        "threads": engine.config.n_threads or "all cores",
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"model        {figures['model']} ({figures['path']}), threads: {figures['threads']}, medians of {args.repeat}")
    print(f"cold prompt  {figures['prompt_tokens']} tokens in {figures['cold_prompt_ms']:.1f} ms "
          f"({figures['cold_prompt_tokens_per_s']:.0f} tokens/s)")
    per_token = figures["generation_ms_per_token"]
    print("generation   " + (f"{per_token:.2f} ms/token ({1000 / per_token:.0f} tokens/s)" if per_token
                             else "model stopped after one token; raise --gen-tokens or use another model"))
    print(f"keystroke    {figures['keystroke_ms']:.1f} ms for one more character "
          f"({figures['keystroke_cached_share']:.1%} of the prompt from cache)")
    return 0


def _code_of_tokens(engine, n_tokens: int) -> str:
    """Sample code repeated and cut to about `n_tokens` tokens of this model."""
    unit = len(engine.tokenize(SAMPLE_CODE))
    text = SAMPLE_CODE * (n_tokens // max(unit, 1) + 1)
    ids = engine.tokenize(text)[:n_tokens]
    return engine.detokenize(ids)
