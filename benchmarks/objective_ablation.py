"""Objective ablation: CodeGen2's lessons at this project's scale.

The same small LLaMA model is trained from the same seed, on the same files and tokenizer,
for the same number of tokens (same compute), once per objective mixture:

- causal only;
- causal + CodeGen2 span corruption (50/50);
- causal + FIM, PSM and SPM (50/25/25), middles cut at any character;
- the same with half of the FIM middles whole lines (`fim_line_share = 0.5`);
- the default models' mixture (causal 50, span 20, PSM 20, SPM 10, half whole lines).

Each is then measured on the same held-out files: left-to-right loss (nats per token over
whole files), and single-line infill, asked in the arm's own way (the causal model sees
only the prefix, as a left-to-right model fills in; the span model through CodeGen2's
sentinels; the FIM and mixed models in PSM): exact match, and the loss of the true line
given that prompt (nats per token, a finer signal than exact match at this size).

    .venv/bin/python benchmarks/objective_ablation.py \\
        --source runs/default-model/corpus/python-stdlib \\
        --tokenizer runs/default-model/run/data/tokenizer --out runs/ablation
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from assistant.fim import FimFormat, Order

FIM = {"causal": 0.5, "psm": 0.25, "spm": 0.25}
#: name -> (objective settings, how the arm is asked for a middle: None = prefix only, else an Order).
ARMS: dict[str, tuple[dict, Order | None]] = {
    "causal": ({"mixture": {"causal": 1.0}}, None),
    "causal+span": ({"mixture": {"causal": 0.5, "span": 0.5}}, Order.CODEGEN2),
    "causal+fim": ({"mixture": FIM, "fim_line_share": 0.0}, Order.PSM),
    "causal+fim-lines": ({"mixture": FIM, "fim_line_share": 0.5}, Order.PSM),
    "mixture": ({"mixture": {"causal": 0.5, "span": 0.2, "psm": 0.2, "spm": 0.1}, "fim_line_share": 0.5}, Order.PSM),
}

#: The model every arm trains: ~1.4M parameters, ~3M tokens in a few CPU minutes per arm.
MODEL = dict(vocab_size=8192, dim=128, n_layers=4, n_heads=4, n_kv_heads=4, ffn_dim=344, seq_len=256,
             global_batch=32, micro_batch=16, lr=2e-3, min_lr=2e-4, compile=False, tensorboard=False,
             progress=False, eval_every=100_000, ckpt_every=100, seed=1337)


def infill_format(order: Order | None, vocab: dict) -> FimFormat | None:
    from training.objectives import fim_tokens_for

    if order is None:
        return None
    return FimFormat(order) if order is Order.CODEGEN2 else FimFormat(order, fim_tokens_for(vocab))


def middle_loss(lm, fmt: FimFormat | None, tasks) -> float:
    """Mean nats per token of each masked line, given the arm's infill prompt."""
    import torch
    import torch.nn.functional as F

    from training.evaluate import infill_prompt

    nats, count = 0.0, 0
    with torch.no_grad():
        for task in tasks:
            middle = lm.tokenizer.encode(task.expected, add_special_tokens=False).ids
            prompt = infill_prompt(lm, fmt, task.prefix, task.suffix, task.path, room=len(middle))
            ids = torch.tensor([prompt + middle], device=lm.device)
            logits = lm.model(input_ids=ids[:, :-1]).logits[0, len(prompt) - 1:].float()
            nats += float(F.cross_entropy(logits, ids[0, len(prompt):], reduction="sum"))
            count += len(middle)
    return nats / count


def run_arm(name: str, args: argparse.Namespace, settings: dict | None = None,
            order: Order | None = Order.PSM) -> dict[str, float]:
    """Train arm `name` (ARMS[name], or `settings` over MODEL) and measure it on the held-out files.

    A stopped arm resumes from its checkpoints. CPU minutes are the training process's CPU
    time (all its threads), which other jobs on a shared machine do not inflate.
    """
    from training import checkpoint
    from training.config import TrainConfig
    from training.data import read_val_files
    from training.evaluate import infill_exact_match, infill_tasks, load_model, text_loss
    from training.pretrain import pretrain

    if settings is None:
        settings, order = ARMS[name]
    cfg = TrainConfig(**(MODEL | {"sources": [str(args.source)], "out_dir": str(args.out / name),
                                  "tokenizer": str(args.tokenizer), "max_steps": args.steps,
                                  "warmup_steps": args.steps // 10, "threads": args.threads} | settings))
    started, cpu = time.monotonic(), time.process_time()
    result = pretrain(cfg, resume=checkpoint.latest(cfg.out / "checkpoints") is not None, log=lambda _: None)
    minutes, cpu_minutes = (time.monotonic() - started) / 60, (time.process_time() - cpu) / 60
    lm = load_model(cfg.out / "model", device="cpu")
    files = [(f["path"], f["text"]) for f in read_val_files(cfg.out / "data")]
    loss, bpb = text_loss(lm, [text for _, text in files], cfg.seq_len, max_tokens=args.loss_tokens)
    row = {"tokens": result.step * cfg.global_batch * cfg.seq_len, "minutes": minutes, "cpu_minutes": cpu_minutes,
           "loss": loss, "bits_per_byte": bpb}
    if args.infill:
        tasks = infill_tasks(files, args.infill, multiline=False)
        fmt = infill_format(order, lm.tokenizer.get_vocab(with_added_tokens=True))
        row |= {"infill_exact_match": infill_exact_match(lm, fmt, tasks, single_line=True),
                "infill_line_loss": middle_loss(lm, fmt, tasks)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="folder of Python files to train and hold out from")
    parser.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder shared by every arm")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"), help="one run folder per arm under this")
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per arm (default 400)")
    parser.add_argument("--infill", type=int, default=300, help="single-line infill tasks (default 300)")
    parser.add_argument("--loss-tokens", type=int, default=100_000, help="held-out tokens for the loss (default 100,000)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {', '.join(ARMS)}")
    args = parser.parse_args()
    rows = {}
    for name in args.arms.split(","):
        rows[name] = run_arm(name, args)
        print(json.dumps({name: rows[name]}), flush=True)
    first = next(iter(rows.values()))
    print(f"\n{first['tokens']:,} training tokens per arm; {args.infill} single-line infill tasks on held-out files")
    print("| objective | left-to-right loss | bits per byte | infill exact match | infill line loss | minutes (data + training) |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['loss']:.3f} | {row['bits_per_byte']:.3f} | {row['infill_exact_match']:.1%} "
              f"| {row['infill_line_loss']:.3f} | {row['minutes']:.1f} |")


if __name__ == "__main__":
    main()
