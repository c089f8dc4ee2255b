"""`cove eval`: evaluate a model: loss, bits per byte, infill exact match, HumanEval."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

EPILOG = """\
examples:
  cove eval runs/cove/model --data runs/cove/data          # held-out files of a training run
  cove eval runs/cove/model --data runs/cove/data --heldout-repo python-stdlib
  cove eval model.gguf --repo ~/src/myproject --humaneval 0
  cove eval runs/base/model --adapter runs/ft/adapter --repo ~/src/myproject
  cove eval runs/cove/model --humaneval 164 --samples 10 --pass-k 1,10

Held-out loss is in nats per token; bits per byte compares across tokenizers. Infill
exact match masks one line (single) or 2-4 lines (multi) of held-out files. HumanEval
runs model-written code in a separate process with a timeout: run it only on models
you trust to that extent."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("model", type=Path, help="transformers checkpoint folder or .gguf file")
    parser.add_argument("--adapter", type=Path, metavar="DIR", help="LoRA adapter folder to apply (from cove finetune)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="DIR", help="data folder of a training run: its held-out files")
    source.add_argument("--repo", action="append", metavar="REPO", help="repository whose files to evaluate on (repeatable)")
    parser.add_argument("--heldout-repo", action="append", default=[], metavar="NAME",
                        help="with --data, only the held-out files of this source folder, e.g. python-stdlib (repeatable)")
    parser.add_argument("--infill", type=int, default=100, metavar="N", help="infill tasks per kind (default 100; 0 skips)")
    parser.add_argument("--humaneval", type=int, default=164, metavar="N", help="HumanEval problems for pass@k (default all 164; 0 skips)")
    parser.add_argument("--humaneval-infill", type=int, default=1033, metavar="N",
                        help="HumanEval single-line infill tasks (default all 1033; 0 skips)")
    parser.add_argument("--samples", type=int, default=1, metavar="N", help="completions per problem for pass@k (greedy when 1)")
    parser.add_argument("--pass-k", default="1", metavar="K,K", help="k values for pass@k, at most --samples (default 1)")
    parser.add_argument("--max-new-tokens", type=int, default=256, metavar="N", help="longest HumanEval completion in tokens (default 256)")
    parser.add_argument("--seq-len", type=int, default=512, metavar="T", help="window for the loss (default 512)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from assistant.errors import CoveError

    try:
        ks = [int(k) for k in args.pass_k.split(",")]
    except ValueError:
        raise CoveError(f"--pass-k {args.pass_k!r} must be whole numbers separated by commas, e.g. 1,10") from None
    if max(ks) > args.samples:
        raise CoveError(f"pass@{max(ks)} needs at least {max(ks)} samples per problem: add --samples {max(ks)}")
    if args.heldout_repo and args.data is None:
        raise CoveError("--heldout-repo picks among a training run's held-out files: add --data RUN/data")
    results = evaluate_model(args.model, args.adapter, args.data, args.repo or [], only=args.heldout_repo,
                             infill=args.infill,
                             humaneval=args.humaneval, humaneval_infill=args.humaneval_infill, samples=args.samples,
                             ks=ks, seq_len=args.seq_len, max_new_tokens=args.max_new_tokens, device=args.device)
    for name, value in results.items():
        print(f"{name:<32} {value:.4f}")
    if args.out:
        from assistant.atomic import write_atomic

        write_atomic(args.out, json.dumps(results, indent=1) + "\n")
    return 0


def evaluate_model(model: Path, adapter: Path | None, data: Path | None, repos: Sequence[str], *,
                   only: Sequence[str] = (), infill: int, humaneval: int, humaneval_infill: int, samples: int,
                   ks: Sequence[int], seq_len: int, max_new_tokens: int = 256, device: str = "auto") -> dict[str, float]:
    """Every metric asked for, by name. It lives here, above both metric modules, because it
    is the one place that combines them: `training.humaneval` builds on `training.evaluate`,
    so `evaluate` must not reach back into `humaneval`."""
    from assistant.errors import CoveError
    from training import humaneval as he
    from training.evaluate import heldout_files, infill_exact_match, infill_format, infill_tasks, load_model, text_loss

    lm = load_model(model, adapter, device)
    files = heldout_files(data, repos, only)
    results: dict[str, float] = {}
    if files:
        results["heldout_loss"], results["heldout_bits_per_byte"] = text_loss(lm, [text for _, text in files], seq_len)
    fmt = infill_format(lm.tokenizer.get_vocab(with_added_tokens=True))
    if fmt is None and (infill or humaneval_infill):
        raise CoveError("this model's vocabulary has no FIM or CodeGen2 sentinels, so it cannot infill: "
                        "pass --infill 0 --humaneval-infill 0")
    if files and infill:
        for kind, multiline in (("single", False), ("multi", True)):
            tasks = infill_tasks(files, infill, multiline)
            results[f"infill_exact_match_{kind}_line"] = infill_exact_match(lm, fmt, tasks, single_line=not multiline)
    if humaneval:
        results.update({f"humaneval_{k}": v for k, v in he.pass_at_k(lm, ks, samples, limit=humaneval, max_new_tokens=max_new_tokens).items()})
    if humaneval_infill:
        results["humaneval_single_line_infill"] = he.single_line_infill(lm, fmt, humaneval_infill)
    return results
