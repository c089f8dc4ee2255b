"""`cove finetune`: LoRA-adapt a model to your own repositories."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands.train import add_common, overrides_of

EPILOG = """\
examples:
  cove finetune ~/src/myproject --base runs/cove/model            # a transformers folder
  cove finetune ~/src/myproject --base cove-default.gguf --merge  # a GGUF, dequantized
  cove finetune ~/src/a --base M --replay ~/src/general-code --set replay_share=0.3

A share of every batch (20% by default) is general code replayed against forgetting:
the repositories given with --replay, else the Python standard library. Before and
after training, a report compares base and adapted model: held-out loss and single-line
infill exact match on your repository, and HumanEval single-line infill.
The run folder gets adapter/ (convert it with `cove convert`), report.json, metrics and,
with --merge, merged/ (base and adapter in one transformers folder)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("sources", nargs="+", metavar="REPO", help="your repository folders or git URLs")
    parser.add_argument("--base", required=True, metavar="MODEL", help="model to adapt: a transformers checkpoint folder or a .gguf file")
    parser.add_argument("--replay", action="append", metavar="REPO", help="general-code repository to replay (repeatable)")
    parser.add_argument("--merge", action="store_true", help="also save base and adapter merged into one model folder")
    parser.add_argument("--preset", help="settings preset to start from (e.g. tiny for a smoke test)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.finetune import FinetuneConfig, finetune

    overrides = overrides_of(args) | {"sources": [str(s) for s in args.sources], "base": str(Path(args.base).expanduser()),
                                      "replay_sources": args.replay, "merge": True if args.merge else None}
    cfg = load_config(args.preset, args.config, overrides, base=FinetuneConfig)
    outcome = finetune(cfg, resume=args.resume)
    if outcome["interrupted"]:
        print(f"stopped at step {outcome['step']}; checkpoint saved. Continue with the same command plus --resume.")
        return 130
    return 0
