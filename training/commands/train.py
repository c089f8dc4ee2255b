"""`cove train`: pretrain a small code model from scratch on repositories."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
examples:
  cove train ~/src/myproject --preset cpu              # ~10M model, an hour on a laptop
  cove train ~/src/a ~/src/b --preset gpu-50m --out runs/m50
  cove train ~/src/a --preset cpu --resume             # continue after Ctrl-C
  cove train ~/src/a --preset cpu --set schedule=wsd --set optimizer=muon
  cove train ~/src/a --preset cpu --set schedule=wsd --set optimizer=muon --resume --max-steps 1200
                                                       # extend a finished wsd run: it resumes before
                                                       # its decay and decays again at the new end
  torchrun --standalone --nproc_per_node 2 -m assistant train ~/src/a --preset gpu-150m

The run folder gets data/ (shards, tokenizer, manifest), checkpoints/, metrics.jsonl,
tensorboard/, loss.png and model/ (a transformers checkpoint for `cove convert`).
Ctrl-C saves a checkpoint and stops; --resume continues exactly where it stopped."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """Flags shared by train and finetune: where settings come from and where output goes."""
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML file of settings (see training/config.py for every key)")
    parser.add_argument("--out", metavar="DIR", help="run folder for data, checkpoints, metrics and the model")
    parser.add_argument("--max-steps", type=int, metavar="N", help="optimizer steps to train for")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default: cuda when available)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set lr=3e-4 --set 'mixture={causal=1.0}' (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (metrics still go to metrics.jsonl)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("sources", nargs="+", metavar="REPO", help="repository folders or git URLs to learn from")
    from training.config import preset_names

    parser.add_argument("--preset", default="cpu", choices=preset_names(),
                        help="model size and schedule (default: cpu, about 10M parameters; tiny is for tests)")
    parser.add_argument("--tokenizer", metavar="DIR", help="use this tokenizer folder instead of training one on the data")
    add_common(parser)


def overrides_of(args: argparse.Namespace) -> dict:
    """Settings given on the command line (None means not given)."""
    values = {"out_dir": args.out, "max_steps": args.max_steps, "device": args.device}
    if getattr(args, "no_progress", False):
        values["progress"] = False
    return values | settings_of(args.set)


def settings_of(items: list[str]) -> dict:
    """`--set KEY=VALUE` items as settings (VALUE read as TOML, else as a string)."""
    import tomllib

    from assistant.errors import CoveError

    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise CoveError(f"--set {item!r} needs KEY=VALUE, e.g. --set lr=3e-4")
        try:
            values[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            values[key.strip()] = raw
    return values


def run(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.pretrain import pretrain

    overrides = overrides_of(args) | {"sources": [str(s) for s in args.sources], "tokenizer": args.tokenizer}
    cfg = load_config(args.preset, args.config, overrides)
    result = pretrain(cfg, resume=args.resume)
    if result.stopped:
        print(f"stopped at step {result.step}; checkpoint saved. Continue with the same command plus --resume.")
        return 130
    return 0
