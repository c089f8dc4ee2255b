"""What indentation healing does to fills asked with the cursor after a fresh line's indentation.

    python benchmarks/indent_healing.py assistant/models/cove-default.gguf \
        --val runs/default-model/run/data/val_files.jsonl

The editor's commonest request is made on a new line the editor has already indented. The
tasks are `cove eval`'s single-line tasks from held-out files, kept where the masked line
is indented, with the cursor put after that indentation. Each is asked twice through
llama.cpp, with the same windows:
- healed: `Engine.infill`, which asks from the line's start and takes the user's
  indentation off the answer (assistant/healing.py);
- as typed: the same FIM layout with the prefix ending in the indentation.
A fill counts when the line it makes (indentation + fill) is the file's line. The table
also shows how often a fill starts with whitespace, which puts the line at the wrong depth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.stopping import StopRules
from convert.verify import load_llama
from fim_orders import fitted  # benchmarks/ is the script's folder, so on sys.path
from training.evaluate import InfillTask, infill_tasks


def indented(tasks: list[InfillTask]) -> list[tuple[InfillTask, str]]:
    """The tasks whose line is indented, each with its indentation."""
    pairs = [(task, task.expected[:len(task.expected) - len(task.expected.lstrip(" \t"))]) for task in tasks]
    return [(task, indentation) for task, indentation in pairs if indentation]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a GGUF model with FIM tokens")
    parser.add_argument("--val", type=Path, required=True, help="held-out files, JSON lines with 'path' and 'text'")
    parser.add_argument("--tasks", type=int, default=300, help="single-line infill tasks drawn (default 300)")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.val.read_text().splitlines()]
    tasks = indented(infill_tasks([(r["path"], r["text"]) for r in records], args.tasks, multiline=False))
    engine = Engine.load(EngineConfig(model=args.model))
    llama = load_llama(args.model, 0)
    windowed = [(task, indentation, *fitted(llama, {"fim": engine.fim}, task, engine.n_ctx)[:2])
                for task, indentation in tasks]
    llama.close()
    line = StopRules(max_tokens=48, single_line=True)
    arms = {
        "healed": lambda prefix, suffix: engine.infill(prefix, suffix, stop=line).result(),
        "as typed": lambda prefix, suffix: engine.generate(engine.fim.layout(prefix, suffix), stop=line).result(),
    }
    print(f"{args.model.name}: {len(tasks)} indented single-line tasks from {args.val}, cursor after the indentation")
    print("| prompt | exact line | fill starts with whitespace |")
    print("|---|---|---|")
    for name, fill in arms.items():
        hits = spaced = 0
        for task, indentation, prefix, suffix in windowed:
            text = fill(prefix + indentation, suffix)
            hits += (indentation + text).rstrip() == task.expected.rstrip()
            spaced += text[:1] in (" ", "\t")
        print(f"| {name} | {hits / len(tasks):.1%} | {spaced / len(tasks):.1%} |")
    engine.close()


if __name__ == "__main__":
    main()
