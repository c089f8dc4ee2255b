"""Recipe ablation at equal compute: optimizer and schedule (and shape) per CPU hour.

Every arm trains objective_ablation's small model (same seed, files, tokenizer, mixture
and number of tokens: equal training FLOPs; CPU minutes measured per arm) with one change
from today's recipe (AdamW, cosine), through objective_ablation.run_arm. Each is measured
on held-out bits per byte (a run's validation files) and, through llama.cpp and the
language server's path, on the editor's two request kinds in a repository outside the
training corpus (benchmarks/line_completion.py: exact rest of line, characters kept).

    chrt -i 0 .venv/bin/python benchmarks/recipe_ablation.py --source runs/ablation/corpus/python-stdlib \\
        --tokenizer assistant/models/cove-default --repo .venv/lib/python3.11/site-packages/hypothesis \\
        --out runs/recipe-ablation --steps 300 --arms adamw-cosine,muon-wsd
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from objective_ablation import MODEL, run_arm  # noqa: E402

#: name -> settings over objective_ablation.MODEL and the default mixture.
ARMS: dict[str, dict] = {
    "adamw-cosine": {},
    "muon-wsd": {"optimizer": "muon", "schedule": "wsd", "decay_share": 0.2},
    "adamw-wsd": {"schedule": "wsd", "decay_share": 0.2},
    "muon-cosine": {"optimizer": "muon"},
    # 8 layers of 96 against 4 of 128: layer parameters within 3% (811k vs 791k); the
    # embedding and head shrink with the width.
    "deep-thin": {"dim": 96, "n_layers": 8, "n_heads": 4, "n_kv_heads": 4, "ffn_dim": 224},
}
MIXTURE = {"mixture": {"causal": 0.5, "span": 0.2, "psm": 0.2, "spm": 0.1}, "fim_line_share": 0.5}


def line_completion(model_dir: Path, out: Path, repo: Path, per_kind: int) -> dict[str, dict[str, float]]:
    """The arm's checkpoint as a Q8_0 GGUF, asked the editor's requests in every mode it supports."""
    from convert.model import convert_checkpoint
    from convert.quantize import quantize
    from line_completion import held_out_files
    from lsp import line_eval

    f16, q8 = out / "model-f16.gguf", out / "model-q8_0.gguf"
    if not q8.is_file():
        convert_checkpoint(model_dir, f16, "f16")
        quantize(f16, q8, "Q8_0", progress=False)
    tasks = line_eval.make_tasks(held_out_files([repo], None), per_kind)
    results = {mode: line_eval.measure_gguf(q8, tasks, mode) for mode in line_eval.gguf_modes(q8) + ["auto"]}
    scores = {}
    for mode, outcomes in results.items():
        for kind in line_eval.KINDS:
            s = line_eval.summarize([o for o in outcomes if o.task.kind == kind])
            scores[f"{mode}/{kind}"] = {"exact": s.exact, "kept": s.kept}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="folder of Python files to train and hold out from")
    parser.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder shared by every arm")
    parser.add_argument("--repo", type=Path, required=True, help="held-out repository for line completion")
    parser.add_argument("--out", type=Path, default=Path("runs/recipe-ablation"), help="one run folder per arm")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per arm (default 300)")
    parser.add_argument("--per-kind", type=int, default=100, help="line-completion requests per kind (default 100)")
    parser.add_argument("--loss-tokens", type=int, default=100_000, help="held-out tokens for bits per byte")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--arms", default="adamw-cosine,muon-wsd", help=f"comma-separated subset of {', '.join(ARMS)}")
    args = parser.parse_args()
    args.infill = 0  # the editor's requests below replace objective_ablation's transformers infill
    names = args.arms.split(",")
    # Every arm trains before any is asked the editor's requests: the training figures are kept if that part fails.
    for name in names:
        record = args.out / name / "ablation.json"
        if not record.is_file():
            record.write_text(json.dumps(run_arm(name, args, MIXTURE | ARMS[name]), indent=1) + "\n")
    for name in names:
        record = args.out / name / "ablation.json"
        row = json.loads(record.read_text())
        if "line_completion" not in row:
            row["line_completion"] = line_completion(args.out / name / "model", args.out / name, args.repo,
                                                     args.per_kind)
            record.write_text(json.dumps(row, indent=1) + "\n")
        print(json.dumps({name: row}), flush=True)
    print(f"\nmodel: {MODEL}")


if __name__ == "__main__":
    main()
