"""`cove finetune`: adapt a model to your repository and make it the editor's model there."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands.train import add_common, overrides_of

EPILOG = """\
examples:
  cove finetune ~/src/myproject --base assistant/models/cove-default.gguf   # a GGUF, dequantized first
  cove finetune ~/src/myproject --base runs/cove/model --minutes 30        # a transformers folder
  cove finetune ~/src/myproject --base qwen-coder.gguf --method lora --merge
  cove finetune ~/src/a --base M --replay ~/src/general-code --set replay_share=0.3

Models under 100M parameters are fine-tuned in full, larger ones with LoRA (--method).
The run lasts --epochs passes over the repository's files, cut to fit --minutes of
training (default 15). A share of every batch (20%) is general code replayed against
forgetting: the repositories given with --replay, else the Python standard library.
Before and after training, a report measures the editor's completions on held-out files
of the repository (rest-of-line exact match, characters kept) and bits per byte on
held-out standard-library files; it is printed and saved as report.json.
The run ends with model-q8_0.gguf (converted, verified, quantized, its best infill mode
per request kind written in), registered for the repository: `cove lsp`, `cove complete`
and `cove chat` use it for files there unless --model, COVE_MODEL or the config file
name another (`cove models list` shows it). The run folder also gets model/ (full) or
adapter/ and, with --merge, merged/ (LoRA), and metrics."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("sources", nargs="+", metavar="REPO", help="your repository folders or git URLs")
    parser.add_argument("--base", required=True, metavar="MODEL", help="model to adapt: a transformers checkpoint folder or a .gguf file")
    parser.add_argument("--replay", action="append", metavar="REPO", help="general-code repository to replay (repeatable)")
    parser.add_argument("--method", choices=["auto", "full", "lora"],
                        help="full fine-tuning or LoRA (default auto: full below 100M parameters)")
    parser.add_argument("--minutes", type=float, metavar="M", help="training time budget in minutes (default 15; 0: none)")
    parser.add_argument("--epochs", type=float, metavar="N", help="passes over the repository's files (default 4)")
    parser.add_argument("--merge", action="store_true", help="LoRA: also keep base and adapter merged as a transformers folder")
    parser.add_argument("--no-register", action="store_true", help="do not make the result the repository's model")
    parser.add_argument("--preset", help="settings preset to start from (e.g. tiny for a smoke test)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.finetune import FinetuneConfig, finetune

    overrides = overrides_of(args) | {"sources": [str(s) for s in args.sources], "base": str(Path(args.base).expanduser()),
                                      "replay_sources": args.replay, "merge": True if args.merge else None,
                                      "method": args.method, "minutes": args.minutes, "epochs": args.epochs,
                                      "register": False if args.no_register else None}
    cfg = load_config(args.preset, args.config, overrides, base=FinetuneConfig)
    outcome = finetune(cfg, resume=args.resume)
    if outcome["interrupted"]:
        print(f"stopped at step {outcome['step']}; checkpoint saved. Continue with the same command plus --resume.")
        return 130
    return 0
