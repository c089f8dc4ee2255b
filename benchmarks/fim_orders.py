"""How well one GGUF model infills in each FIM order (PSM and SPM), through llama.cpp.

    python benchmarks/fim_orders.py assistant/models/cove-default.gguf \
        --val runs/default-model/run/data/val_files.jsonl --family starcoder

Per order, on the same single-line infill tasks (`cove eval`'s, from held-out files), with
the same prefix and suffix windows:
- the mean negative log-likelihood (nats/token) of the masked line and the token that ends
  the middle, teacher-forced: a low-noise measure of how much the layout helps the model;
- exact match of the greedy fill asked through the editor path's `Engine.infill`.
The order decides speed in an editor (SPM keeps the suffix ahead of the growing prefix, so
the KV cache covers more of each keystroke's prompt): this says what it costs in quality.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.fim import FimFormat, parse_format
from assistant.stopping import StopRules
from convert.verify import load_llama, nll_of_llama
from training.evaluate import InfillTask, infill_tasks

ORDERS = ("psm", "spm")


def windows(task: InfillTask, chars: int) -> tuple[str, str]:
    """The prefix's last 3/4 and the suffix's first 1/4 of `chars` characters."""
    keep = chars * 3 // 4
    return task.prefix[max(0, len(task.prefix) - keep):], task.suffix[:chars - keep]


def tokenize(llama, fmt: FimFormat, prefix: str, suffix: str, middle: str) -> tuple[list[int], list[int]]:
    """(prompt ids, middle ids ended by the order's end-of-middle token), as training lays them out."""
    prompt = [i for p in fmt.layout(prefix, suffix) for i in llama.tokenize(p.text.encode(), add_bos=False,
                                                                              special=p.special)]
    end = llama.tokenize(fmt.stop_texts()[0].encode(), add_bos=False, special=True)
    return prompt, llama.tokenize(middle.encode(), add_bos=False, special=False) + end


def fitted(llama, formats: dict[str, FimFormat], task: InfillTask,
           n_ctx: int) -> tuple[str, str, dict[str, tuple[list[int], list[int]]]]:
    """Windows around the line that fit the context in every order (halved until they do),
    with each order's (prompt ids, middle ids)."""
    chars = 4 * n_ctx
    while True:
        prefix, suffix = windows(task, chars)
        ids = {order: tokenize(llama, fmt, prefix, suffix, task.expected) for order, fmt in formats.items()}
        if all(len(prompt) + len(middle) <= n_ctx for prompt, middle in ids.values()):
            return prefix, suffix, ids
        chars //= 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a GGUF model with FIM tokens")
    parser.add_argument("--val", type=Path, required=True, help="held-out files, JSON lines with 'path' and 'text'")
    parser.add_argument("--family", default="starcoder", help="FIM token family (default starcoder)")
    parser.add_argument("--tasks", type=int, default=300, help="single-line infill tasks (default 300)")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.val.read_text().splitlines()]
    tasks = infill_tasks([(r["path"], r["text"]) for r in records], args.tasks, multiline=False)
    formats = {order: parse_format(f"{order}:{args.family}") for order in ORDERS}
    llama = load_llama(args.model, 0)
    n_ctx = llama.n_ctx()
    windowed = [(task, *fitted(llama, formats, task, n_ctx)) for task in tasks]
    print(f"{args.model.name}: {len(tasks)} single-line infill tasks from {args.val}, context {n_ctx}")
    print("| order | middle NLL (nats/token) | exact match |")
    print("|---|---|---|")
    for order in formats:
        nll = count = 0.0
        for _, _, _, ids in windowed:
            prompt, middle = ids[order]
            nll += nll_of_llama(llama, prompt + middle, start=len(prompt))
            count += len(middle)
        engine = Engine.load(EngineConfig(model=args.model, n_ctx=n_ctx, fim_format=f"{order}:{args.family}"))
        line = StopRules(max_tokens=48, single_line=True)
        hits = sum(engine.infill(prefix, suffix, stop=line).result().strip() == task.expected.strip()
                   for task, prefix, suffix, _ in windowed)
        engine.close()
        print(f"| {order.upper()} | {nll / count:.3f} | {hits / len(tasks):.1%} |")
    llama.close()


if __name__ == "__main__":
    main()
