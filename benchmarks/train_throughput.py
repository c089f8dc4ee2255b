"""CPU training throughput: `cove train`'s loop against a plain transformers Trainer loop.

Same model (a preset through training.model), same packed rows, sequence length, batch,
optimizer settings and thread count; rounds alternate the two so machine noise hits
both alike. Reports median tokens/s per optimizer step after warm-up steps.

    .venv/bin/python benchmarks/train_throughput.py --preset cpu --steps 8 --rounds 2
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cove_rates(cfg, steps: int, warmup: int) -> list[float]:
    from training.metrics import read_metrics
    from training.pretrain import pretrain

    run = dataclasses.replace(cfg, max_steps=steps, out_dir=str(Path(cfg.out_dir) / f"cove-{time.monotonic_ns()}"))
    pretrain(run, log=lambda _: None)
    return [r["tokens_per_s"] for r in read_metrics(run.out / "metrics.jsonl", "train")][warmup:]


def trainer_rates(cfg, data_dir: Path, manifest: dict, steps: int, warmup: int) -> list[float]:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from assistant.fim import END_OF_TEXT
    from training.data import TokenRows
    from training.model import build_model
    from training.tokenizer import load_tokenizer

    rows = TokenRows(data_dir, manifest, "train", cfg.seq_len)

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, i: int) -> dict:
            ids = torch.from_numpy(rows[i][:-1])
            return {"input_ids": ids, "labels": ids}

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.rates: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.rates.append(cfg.global_batch * cfg.seq_len / (time.perf_counter() - self.began))

    tokenizer = load_tokenizer(Path(manifest["tokenizer"]))
    model = build_model(cfg, tokenizer.get_vocab_size(with_added_tokens=True), tokenizer.token_to_id(END_OF_TEXT))
    timer = StepTimer()
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=cfg.micro_batch,
        gradient_accumulation_steps=cfg.global_batch // cfg.micro_batch, max_steps=steps, learning_rate=cfg.lr,
        lr_scheduler_type="cosine", warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        adam_beta1=cfg.beta1, adam_beta2=cfg.beta2, max_grad_norm=cfg.grad_clip, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0, seed=cfg.seed,
        disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=Rows(), callbacks=[timer]).train()
    return timer.rates[warmup:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=str(ROOT), help="repository to build training rows from (default: this one)")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the median")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="setting override (as cove train --set)")
    args = parser.parse_args()

    import torch

    from training.commands.train import overrides_of
    from training.config import load_config
    from training.data import build_dataset

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="train-bench-"))
    extra = overrides_of(argparse.Namespace(out=None, max_steps=None, device="cpu", no_progress=True, set=args.set))
    cfg = load_config(args.preset, overrides={**extra, "sources": [args.repo], "out_dir": str(work), "threads": args.threads,
                                              "warmup_steps": 1, "eval_every": 10_000, "ckpt_every": 10_000, "log_every": 1,
                                              "tensorboard": False, "max_steps": max(2, args.steps)})
    data_dir = work / "shared-data"
    manifest = build_dataset(dataclasses.replace(cfg, out_dir=str(work)), data_dir, log=print)
    # Both loops read the same shards: point the cove runs at the prepared folder.
    cfg = dataclasses.replace(cfg, tokenizer=manifest["tokenizer"])

    cove, hf, ratios = [], [], []
    for round_index in range(args.rounds):
        ours = cove_rates(cfg, args.steps, args.warmup)
        theirs = trainer_rates(cfg, data_dir, manifest, args.steps, args.warmup)
        cove += ours
        hf += theirs
        ratios.append(statistics.median(ours) / statistics.median(theirs))
        print(f"round {round_index + 1}: cove {statistics.median(ours):,.0f} tok/s, Trainer {statistics.median(theirs):,.0f} tok/s, "
              f"ratio {ratios[-1]:.2f}x", flush=True)
    from training.model import build_model

    params = sum(p.numel() for p in build_model(cfg, manifest_vocab(manifest)).parameters())
    print(f"model {params / 1e6:.1f}M params, seq {cfg.seq_len}, global batch {cfg.global_batch} (micro {cfg.micro_batch}), "
          f"threads {args.threads}, compile {cfg.compile}")
    print(f"cove train: median {statistics.median(cove):,.0f} tok/s over {len(cove)} steps")
    print(f"Trainer   : median {statistics.median(hf):,.0f} tok/s over {len(hf)} steps")
    print(f"ratio of medians {statistics.median(cove) / statistics.median(hf):.2f}x; "
          f"per-round ratios {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f}x)")


def manifest_vocab(manifest: dict) -> int:
    from training.tokenizer import load_tokenizer

    return load_tokenizer(Path(manifest["tokenizer"])).get_vocab_size(with_added_tokens=True)


if __name__ == "__main__":
    main()
