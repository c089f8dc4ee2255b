"""A finetune run's base and adapted GGUF on more held-out cursors than its report drew.

`cove finetune`'s own report keeps its request count small to fit its time budget; this
measures both models again on the run's held-out files (`RUN/data`), on other cursors
(`--seed`) and as many as asked, through the language server's completer, in the modes
given (`auto` is what the editor does: for the adapted model, the best modes the run wrote
into its GGUF).

    .venv/bin/python benchmarks/finetune_heldout.py --data RUN/data --base assistant/models/cove-default.gguf \\
        --adapted RUN/model-q8_0.gguf [--per-kind 150] [--seed 1] [--modes auto ltr]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsp import line_eval  # noqa: E402
from training import finetune_report as reports  # noqa: E402
from training.data import read_val_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the finetune run's data folder")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--adapted", type=Path, required=True)
    parser.add_argument("--per-kind", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1, help="cursor choice (the run's report used its own seed)")
    parser.add_argument("--modes", nargs="+", default=["auto", "ltr"])
    parser.add_argument("--json", type=Path, help="write the table here")
    args = parser.parse_args()
    files = read_val_files(args.data)
    tasks = reports.line_tasks(files, args.per_kind, args.seed)
    table = {label: reports.mode_table(reports.measure_modes(gguf, tasks, args.modes, lambda: None))
             for label, gguf in (("base", args.base), ("adapted", args.adapted))}
    print(f"{len(files)} held-out files, {args.per_kind} requests per kind (seed {args.seed})\n")
    print("| mode | kind | base exact | adapted exact | base chars kept | adapted chars kept |")
    print("|---|---|---|---|---|---|")
    for mode in args.modes:
        for kind in line_eval.KINDS:
            old, new = table["base"][mode][kind], table["adapted"][mode][kind]
            print(f"| {mode} | {kind} | {old['exact']:.1%} | {new['exact']:.1%} | {old['kept']:.1%} | {new['kept']:.1%} |")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
