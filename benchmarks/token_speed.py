"""Per-token generation: Cove's engine against llama-server built from the same llama.cpp
sources (tests/llama_server.py), same model, same threads (issue 23).

Each side continues the same prompt, greedy, once for 1 token and once for N, several
times, the two sides taking turns; the cost of a token is (time for N - time for 1) /
(N - 1), so what a request costs once (parsing, the last prompt token, setting up
sampling) cancels out and what is left
is the decoding loop: llama.cpp's decode plus whatever runs per token around it (for Cove
its Python: sampling, the token's probability, stop rules). Times are each side's own
(Cove: GenerationStats.total_ms; llama-server: its prompt_ms + predicted_ms), so HTTP is
not counted against the server. Both run on a warm prompt cache: each request evaluates
the prompt's last token again, then generates.

    .venv/bin/python benchmarks/token_speed.py MODEL.gguf [--threads 1] [--tokens 32] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lsp_model import stdlib_file  # noqa: E402

from assistant.config import EngineConfig  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.stopping import StopRules  # noqa: E402
from tests.llama_server import LlamaServer, ensure_llama_server  # noqa: E402

#: The prompt: the start of a real file, about as long as a keystroke's prompt windows.
PROMPT_FILE, PROMPT_CHARS = "textwrap.py", 2400
N_CTX = 2048


def prompt_text() -> str:
    return stdlib_file(PROMPT_FILE).read_text()[:PROMPT_CHARS]


def per_token(times: dict[int, list[float]], tokens: int) -> float:
    """Milliseconds per token from paired runs of 1 and `tokens` tokens (medians)."""
    return (statistics.median(times[tokens]) - statistics.median(times[1])) / (tokens - 1)


class CoveSide:
    """Cove's engine: `Engine.generate` with no stop rule but the token count."""

    def __init__(self, model: Path, threads: int, flash_attn: bool = False) -> None:
        self.engine = Engine.load(EngineConfig(model=model, n_ctx=N_CTX, n_threads=threads, token_healing=False,
                                               flash_attn=flash_attn))

    def run(self, count: int) -> tuple[float, int]:
        """(milliseconds, tokens generated) of one request for `count` tokens."""
        generation = self.engine.generate(prompt_text(), stop=StopRules(max_tokens=count, stop_loops=False))
        generation.result()
        return generation.stats.total_ms, generation.stats.generated_tokens

    def close(self) -> None:
        self.engine.close()


class ServerSide:
    """llama-server's `/completion`: the same prompt, greedy, `ignore_eos` so it writes them all."""

    def __init__(self, model: Path, threads: int) -> None:
        self.server = LlamaServer(ensure_llama_server(), model, n_ctx=N_CTX, args=["-np", "1"], threads=threads).start()

    def run(self, count: int) -> tuple[float, int]:
        body = {"prompt": prompt_text(), "n_predict": count, "temperature": 0.0, "top_k": 1,
                "cache_prompt": True, "ignore_eos": True, "stream": False}
        request = urllib.request.Request(self.server.url + "/completion", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as answer:
            timings = json.load(answer)["timings"]
        return timings["prompt_ms"] + timings["predicted_ms"], timings["predicted_n"]

    def close(self) -> None:
        self.server.stop()


def compare(model: Path, threads: int, tokens: int = 32, repeats: int = 7) -> dict:
    """Both sides, their requests interleaved (a change in the machine's load falls on both),
    and Cove's per-token cost over the server's: Cove as configured by default, and with
    flash attention on as llama-server has it by default (`--flash-attn auto`)."""
    sides = {"cove": CoveSide(model, threads), "cove_flash_attn": CoveSide(model, threads, flash_attn=True),
             "llama_server": ServerSide(model, threads)}
    times = {name: {1: [], tokens: []} for name in sides}
    try:
        for side in sides.values():
            side.run(1)  # the prompt into the cache
        for _ in range(repeats):
            for name, side in sides.items():
                for count in (1, tokens):
                    ms, generated = side.run(count)
                    assert generated == count, f"{name} stopped after {generated} of {count} tokens"
                    times[name][count].append(ms)
    finally:
        for side in sides.values():
            side.close()
    found = {name: {"ms_per_token": per_token(measured, tokens), "one_token_ms": statistics.median(measured[1])}
             for name, measured in times.items()}
    return {"threads": threads, "tokens": tokens, "repeats": repeats, **found,
            "cove_over_server": found["cove"]["ms_per_token"] / found["llama_server"]["ms_per_token"],
            "cove_flash_attn_over_server": found["cove_flash_attn"]["ms_per_token"]
            / found["llama_server"]["ms_per_token"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(compare(args.model, args.threads, args.tokens, args.repeats), indent=2))


if __name__ == "__main__":
    main()
