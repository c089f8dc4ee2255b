"""LoRA training throughput: Cove's fine-tuning loop against plain peft + transformers
`Trainer` on the same rows, LoRA, batch shape and threads.

The base (a GGUF is dequantized as `cove finetune` does) and the repository's rows come
from `cove finetune`'s own steps (training/finetune.py: base_folder, mixture_for_base,
training_data, trainable, training_loss); Cove trains through `training.loop.fit`, once
with the loss over the training data's tokens (the default for LoRA) and once over the
whole vocabulary; `Trainer` gets the same rows in the same micro-batches. Each side runs
one untimed step, then `--steps` timed ones; tokens/s = rows x seq_len / step seconds,
median over the timed steps.

    flock /tmp/cove-heavy.lock .venv/bin/python benchmarks/finetune_throughput.py --base GEMMA.gguf \\
        --repo REPO [--steps 4] [--seq-len 256] [--global-batch 8] [--micro-batch 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training.config import load_config  # noqa: E402
from training.evaluate import load_model  # noqa: E402
from training.finetune import (  # noqa: E402
    FinetuneConfig, base_folder, mixture_for_base, trainable, training_data, training_loss,
)
from training.loop import fit  # noqa: E402
from training.metrics import read_metrics  # noqa: E402
from training.parallel import setup_distributed  # noqa: E402


def cove_rate(cfg: FinetuneConfig, base: Path, data, subset: bool, out: Path) -> float:
    """Median tokens/s of Cove's loop over the timed steps (metrics.jsonl)."""
    shutil.rmtree(out, ignore_errors=True)
    cfg = dataclasses.replace(cfg, out_dir=str(out), subset_loss=subset)
    lm = load_model(base, device="cpu")
    model, method = trainable(lm.model, cfg, print)
    fit(model, cfg, data.batches, data.val_rows, setup_distributed("cpu"), loss=training_loss(lm, method, data, cfg, print))
    return statistics.median(r["tokens_per_s"] for r in read_metrics(out / "metrics.jsonl", "train")[1:])


def trainer_rate(cfg: FinetuneConfig, base: Path, data, out: Path) -> float:
    """Median tokens/s of peft + transformers Trainer over the timed steps, on the same rows."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    accum = cfg.global_batch // cfg.micro_batch
    rows = [{"input_ids": row, "labels": row} for step in range(cfg.max_steps) for micro in range(accum)
            for row in data.batches.micro_batch(step, micro, cfg.micro_batch)]
    lm = load_model(base, device="cpu")
    model, _ = trainable(lm.model, cfg, print)
    seconds: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds.append(time.perf_counter() - self.began)

    arguments = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=cfg.micro_batch, gradient_accumulation_steps=accum,
        max_steps=cfg.max_steps, learning_rate=cfg.lr, lr_scheduler_type="constant", use_cpu=True,
        report_to=[], save_strategy="no", logging_steps=1, seed=cfg.seed, dataloader_drop_last=True,
        max_grad_norm=cfg.grad_clip,
    )
    Trainer(model=model, args=arguments, train_dataset=rows, callbacks=[Timer()]).train()
    return cfg.global_batch * cfg.seq_len / statistics.median(seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="a GGUF or transformers folder")
    parser.add_argument("--repo", type=Path, required=True, help="repository to train on")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "finetune-throughput")
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps per side")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", nargs="+", default=["cove", "cove-full-vocab", "trainer"])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cfg = load_config(None, None, {
        "sources": [str(args.repo)], "base": str(args.base), "method": "lora", "seq_len": args.seq_len,
        "global_batch": args.global_batch, "micro_batch": args.micro_batch, "threads": args.threads,
        "max_steps": args.steps + 1, "warmup_steps": 1, "eval_every": 10_000, "ckpt_every": 10_000, "log_every": 1,
        "minutes": 0, "progress": False, "report_line_tasks": 0,
    }, base=FinetuneConfig)
    args.out.mkdir(parents=True, exist_ok=True)
    base = base_folder(args.base, args.out, reuse=True)
    cfg = mixture_for_base(dataclasses.replace(cfg, tokenizer=str(base)), print)
    data = training_data(cfg, args.out, print)
    rates: dict[str, float] = {}
    for side in args.sides:
        began = time.perf_counter()
        if side == "trainer":
            rates[side] = trainer_rate(cfg, base, data, args.out / side)
        else:
            rates[side] = cove_rate(cfg, base, data, side == "cove", args.out / side)
        print(f"{side}: {rates[side]:.1f} tokens/s ({time.perf_counter() - began:.0f} s in all)", flush=True)
    result = {"base": str(args.base), "repo": str(args.repo), "steps": args.steps, "seq_len": args.seq_len,
              "global_batch": args.global_batch, "micro_batch": args.micro_batch, "threads": args.threads,
              "tokens_per_s": rates}
    if "trainer" in rates:
        result["speedup_vs_trainer"] = {k: round(v / rates["trainer"], 2) for k, v in rates.items() if k != "trainer"}
    print(json.dumps(result, indent=1))
    (args.out / "throughput.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
