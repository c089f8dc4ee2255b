"""`cove finetune`: adapt a model to your repository and make it the editor's model there."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands.train import add_common, overrides_of

EPILOG = """\
examples:
  cove finetune ~/src/myproject              # the model Cove uses there (as `cove doctor` names it)
  cove finetune ~/src/myproject --base gemma-3-270m.gguf --minutes 30   # a GGUF, dequantized first
  cove finetune ~/src/myproject --base runs/cove/model --minutes 30        # a transformers folder
  cove finetune ~/src/myproject --base qwen-coder.gguf --method lora --merge
  cove finetune ~/src/a --base M --replay ~/src/general-code --set replay_share=0.3

Without --base, the base is the model Cove would use in the first repository (`cove doctor`
there names it): COVE_MODEL, else the config file's model, else the model an earlier run
registered for the repository, else the bundled one.
Models under 100M parameters (the bundled one) are fine-tuned in full: every weight
changes. Larger ones (Gemma 3 270M, Qwen2.5-Coder) get LoRA adapters, merged into the
base at the end, so the result is again one full model. Architectures: llama, qwen2,
gemma3, starcoder2.
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
    parser.add_argument("--base", metavar="MODEL",
                        help="model to adapt: a transformers checkpoint folder or a .gguf file "
                             "(default: the model Cove uses in the first REPO, as `cove doctor` names it)")
    parser.add_argument("--replay", action="append", metavar="REPO", help="general-code repository to replay (repeatable)")
    parser.add_argument("--method", choices=["auto", "full", "lora"],
                        help="full fine-tuning or LoRA (default auto: full below 100M parameters)")
    parser.add_argument("--minutes", type=float, metavar="M", help="training time budget in minutes (default 15; 0: none)")
    parser.add_argument("--epochs", type=float, metavar="N", help="passes over the repository's files (default 4)")
    parser.add_argument("--merge", action="store_true", help="LoRA: also keep base and adapter merged as a transformers folder")
    parser.add_argument("--no-register", action="store_true", help="do not make the result the repository's model")
    parser.add_argument("--preset", help="settings preset to start from (e.g. tiny for a smoke test)")
    add_common(parser)


def default_base(repository: str) -> tuple[Path, str]:
    """The model Cove would use in `repository` and why (`cove doctor`'s resolution)."""
    from assistant.config import load_engine_config, resolve_model

    folder = Path(repository).expanduser()
    config, sources = load_engine_config(workspace=folder.resolve() if folder.is_dir() else None)
    return resolve_model(config, sources)


def run(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.finetune import FinetuneConfig, finetune

    if args.base is None:
        base, reason = default_base(args.sources[0])
        print(f"base: {base} ({reason}; --base chooses another)")
    else:
        base = Path(args.base).expanduser()
    overrides = overrides_of(args) | {"sources": [str(s) for s in args.sources], "base": str(base),
                                      "replay_sources": args.replay, "merge": True if args.merge else None,
                                      "method": args.method, "minutes": args.minutes, "epochs": args.epochs,
                                      "register": False if args.no_register else None}
    cfg = load_config(args.preset, args.config, overrides, base=FinetuneConfig)
    outcome = finetune(cfg, resume=args.resume)
    if outcome["interrupted"]:
        print(f"stopped at step {outcome['step']}; checkpoint saved. Continue with the same command plus --resume.")
        return 130
    return 0
