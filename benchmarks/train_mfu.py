"""GPU model FLOPs utilisation of `cove train` (bf16, the gpu-150m preset by default).

Runs the real training loop for a few dozen steps on the Python standard library and
reports the median tokens/s and MFU (6N + 12·L·H·Q·T FLOPs per token against the
GPU's dense bf16 peak from training.metrics.PEAK_BF16_FLOPS), leaving out warm-up and
compilation steps. Needs CUDA; goal on an H100-class GPU: MFU >= 40%.

    .venv/bin/python benchmarks/train_mfu.py --preset gpu-150m --steps 40
"""

from __future__ import annotations

import argparse
import statistics
import sysconfig
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=sysconfig.get_paths()["stdlib"], help="code to train on (default: the stdlib)")
    parser.add_argument("--preset", default="gpu-150m")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10, help="first steps left out (compilation, allocator warm-up)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="setting override (as cove train --set)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("train_mfu.py needs a CUDA GPU: run it on a machine with one")
    from training.commands.train import overrides_of
    from training.config import load_config
    from training.metrics import read_metrics
    from training.pretrain import pretrain

    extra = overrides_of(argparse.Namespace(out=None, max_steps=None, device="cuda", no_progress=True, set=args.set))
    out = Path(tempfile.mkdtemp(prefix="train-mfu-"))
    cfg = load_config(args.preset, overrides={**extra, "sources": [args.repo], "out_dir": str(out), "max_steps": args.steps,
                                              "warmup_steps": 1, "eval_every": 10_000, "ckpt_every": 10_000,
                                              "log_every": 1, "tensorboard": False})
    pretrain(cfg, log=print)
    records = read_metrics(out / "metrics.jsonl", "train")[args.warmup:]
    if not records or "mfu" not in records[0]:
        raise SystemExit(f"no MFU recorded: {torch.cuda.get_device_name()} is not in training.metrics.PEAK_BF16_FLOPS")
    print(f"device {torch.cuda.get_device_name()}, preset {args.preset}, seq {cfg.seq_len}, "
          f"global batch {cfg.global_batch} (micro {cfg.micro_batch}), compile {cfg.compile}")
    print(f"median tokens/s {statistics.median(r['tokens_per_s'] for r in records):,.0f} over {len(records)} steps")
    print(f"median MFU {100 * statistics.median(r['mfu'] for r in records):.1f}%")


if __name__ == "__main__":
    main()
