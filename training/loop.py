"""The optimisation loop shared by `train` and `finetune`, nanoGPT-shaped.

AdamW with weight decay on matrices only (or Muon for the hidden matrices, training/muon.py),
linear warmup then cosine or warmup-stable-decay (training/schedule.py), gradient
accumulation over micro-batches (gradients synchronised across processes on the last one), gradient
clipping, bf16 autocast on GPU. A step is a pure function of (weights, optimizer state,
step number): the batch comes from `Batches` by step, so resuming from a checkpoint or
splitting the global batch over processes reproduces the same losses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from assistant.errors import CoveError
from assistant.progress import Progress
from convert import TOKENIZER_FILES
from training import checkpoint
from training.config import TrainConfig
from training.data import Batches, TokenRows
from training.metrics import MetricsLog, flops_per_token, peak_flops, read_metrics
from training.parallel import Distributed, Parallel
from training.schedule import decay_start, lr_factor, resume_point, steps_within

#: Steps after the start (or resumption) left out of the pace of a time-budgeted run:
#: the first ones compile kernels and allocate.
PACE_AFTER_STEPS = 10


class Budget:
    """A time budget for the loop: its deadline, and the pace measured after the first steps."""

    def __init__(self, minutes: float, start: int) -> None:
        self.deadline = time.monotonic() + minutes * 60 if minutes else math.inf
        self.paced_from: tuple[int, float] | None = None
        self.start = start

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def length(self, cfg: TrainConfig, step: int) -> int:
        """cfg.max_steps, re-sized while a wsd run (the caller's to check) is in its stable phase so
        that it ends by the deadline."""
        now = time.monotonic()
        if step >= decay_start(cfg):
            return cfg.max_steps
        if self.paced_from is None:
            if step - self.start >= PACE_AFTER_STEPS:
                self.paced_from = (step, now)
            return cfg.max_steps
        first, began = self.paced_from
        if step - first < PACE_AFTER_STEPS:
            return cfg.max_steps
        return steps_within(cfg, step, (now - began) / (step - first), self.deadline - now)


#: Settings that may change between a run and its resumption without changing its course
#: (max_steps: only as schedule.resume_point allows, by re-running a wsd decay).
RESUMABLE_CHANGES = frozenset({"progress", "tensorboard", "log_every", "eval_every", "ckpt_every", "keep_last",
                               "device", "threads", "compile", "sources", "replay_sources", "out_dir", "tokenizer",
                               "max_steps"})


class StopSignal:
    """SIGINT/SIGTERM ask the loop to stop after the current step (and save); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignal":
        if threading.current_thread() is threading.main_thread():  # signal handlers live there only
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def autocast(device: "torch.device"):
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(rows: np.ndarray, device) -> "torch.Tensor":
    import torch

    return torch.from_numpy(rows).to(device, non_blocking=True)


def token_loss(model, tokens: "torch.Tensor", pad_id: int | None = None) -> "torch.Tensor":
    """Mean next-token cross-entropy of rows [B, T+1] over real tokens: targets that are
    `pad_id` (row ends padded so an infill example stays in one row) are skipped.

    One function for forward and loss, so that torch.compile fuses the log-softmax and
    the loss with the model instead of materialising the logits' gradient separately.
    """
    import torch.nn.functional as F

    with autocast(tokens.device):
        logits = model(input_ids=tokens[:, :-1]).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), tokens[:, 1:].reshape(-1),
                           ignore_index=-100 if pad_id is None else pad_id)


def mean_loss(model, rows: TokenRows, limit: int, micro_batch: int, device) -> float | None:
    """Mean loss over the first `limit` rows (all when 0) of a split; None when it has none."""
    import torch

    count = len(rows) if limit <= 0 else min(limit, len(rows))
    if count == 0:
        return None
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, count, micro_batch):
            batch = np.stack([rows[i] for i in range(start, min(count, start + micro_batch))])
            total += float(token_loss(model, to_device(batch, device), rows.pad_id)) * len(batch)
    model.train(was_training)
    return total / count


def make_optimizer(model, cfg: TrainConfig):
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "muon":
        from training.muon import Muon

        # The embedding and the head are lookups into / out of the vocabulary, not hidden maps: AdamW.
        vocabulary = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
        hidden = [p for p in params if p.dim() == 2 and id(p) not in vocabulary]
        groups = [
            {"params": hidden, "muon": True, "lr": cfg.muon_lr, "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() >= 2 and id(p) in vocabulary], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return Muon(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), momentum=cfg.muon_momentum)
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused kernel (CPU and CUDA) updates all parameters in one pass instead of one op per tensor.
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


@dataclass
class FitResult:
    step: int
    interrupted: bool
    last_loss: float | None
    val_loss: float | None
    #: Every weight gathered from the shards, for export (None unless FSDP sharded the model).
    full_state: dict | None = None
    #: Stopped by cfg.minutes' deadline (a finished run, as far as the budget allowed).
    out_of_time: bool = False

    @property
    def stopped(self) -> bool:
        """Stopped early by a signal or a caller, not by the time budget: resume to finish it."""
        return self.interrupted and not self.out_of_time


def _check_resumable(saved: dict, cfg: TrainConfig) -> None:
    current = cfg.to_dict()
    # A checkpoint from before a setting existed ran with that setting's default.
    saved = {f.name: f.default for f in dataclasses.fields(cfg) if f.default is not dataclasses.MISSING} | saved
    changed = sorted(k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k])
    if changed:
        name = changed[0]
        raise CoveError(f"cannot resume: {name} was {saved.get(name)!r} in the checkpoint but is now {current[name]!r}; "
                        "resume with the same settings or start a new run folder")


def fit(model, cfg: TrainConfig, batches: Batches, val_rows: TokenRows, dist: Distributed, *,
        resume: bool = False, log: Callable[[str], None] = print,
        should_stop: Callable[[], bool] = lambda: False, loss: Callable = token_loss) -> FitResult:
    """Train `model` (already on dist.device) for cfg.max_steps optimizer steps, checkpointing as it goes;
    `should_stop` (a time budget) ends it early, after a step, like a signal does. `loss` is
    `token_loss` or one with its signature (training/vocab_subset.py)."""
    import torch

    run = cfg.out
    ckpt_dir = run / "checkpoints"
    per_process = cfg.micro_batch * dist.world
    if batches.global_batch % per_process:
        raise CoveError(f"global_batch {batches.global_batch} must divide by micro_batch x processes = {per_process}")
    accum = batches.global_batch // per_process
    raw = model
    state = None
    if resume:
        # Rank 0 first: an extension removes the old decay's checkpoints; the others then find the same one.
        if not dist.main:
            dist.barrier()
        state = resume_point(run, cfg, log)
        if dist.main:
            dist.barrier()
        _check_resumable(state["config"], cfg)
        unexpected = raw.load_state_dict(state["model"], strict=False).unexpected_keys
        if unexpected:
            raise CoveError(f"checkpoint at step {state['step']} does not fit this model ({unexpected[0]}...): "
                            "start a new run folder")

    config = raw.config
    from training.model import compute_params

    flops = flops_per_token(compute_params(raw), config.num_hidden_layers, config.num_attention_heads,
                            config.hidden_size // config.num_attention_heads, cfg.seq_len)
    parallel = Parallel(raw, dist, cfg.fsdp)  # FSDP shards the parameters: the optimizer comes after
    optimizer = make_optimizer(raw, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    start = 0
    if state is not None:
        parallel.load_optimizer_state(optimizer, state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        start = state["step"]
    model = parallel.module
    loss_of = torch.compile(loss) if cfg.compile else loss
    tokens_per_step = batches.global_batch * cfg.seq_len
    peak = peak_flops(torch.cuda.get_device_name(dist.device)) if dist.device.type == "cuda" else None
    metrics = MetricsLog(run / "metrics.jsonl", cfg.tensorboard) if dist.main else None

    def save(step: int) -> None:
        # Under FSDP gathering the full state is collective: every rank takes part, rank 0 writes.
        full = {"model": parallel.model_state(), "optimizer": parallel.optimizer_state(optimizer)}
        if dist.main:
            path = checkpoint.save(ckpt_dir, step, {
                **full, "scheduler": scheduler.state_dict(), "rng": checkpoint.rng_state(),
                "rows_seen": step * batches.global_batch, "config": cfg.to_dict(),
            }, cfg.keep_last)
            if cfg.schedule == "wsd" and step == decay_start(cfg):
                checkpoint.keep_as_stable(path)
        dist.barrier()

    # In a log, a line every half minute is enough to follow a run; metrics.jsonl has every step.
    bar = Progress("training", cfg.max_steps, initial=start, line_interval_s=30.0, enabled=cfg.progress and dist.main)
    loss_value = None
    # A resumed run may evaluate nothing more (it was finished): its log holds the last loss.
    logged = read_metrics(run / "metrics.jsonl", "val") if state is not None else []
    val = logged[-1]["loss"] if logged else None
    step = start
    budget = Budget(cfg.minutes, start)
    model.train()
    with StopSignal() as stop:
        while step < cfg.max_steps:
            began = time.perf_counter()
            total = torch.zeros((), device=dist.device)  # summed on the device: no sync per micro-step
            for micro in range(accum):
                rows = batches.micro_batch(step, micro, cfg.micro_batch, dist.rank, dist.world)
                with parallel.gradient_sync(micro == accum - 1):
                    loss = loss_of(model, to_device(rows, dist.device), batches.pad_id)
                    (loss / accum).backward()
                total += loss.detach()
            grad_norm = parallel.grad_norm(cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = dist.mean(float(total) / accum)
            elapsed = time.perf_counter() - began
            rate = tokens_per_step / elapsed
            if metrics and (step % cfg.log_every == 0 or step == cfg.max_steps):
                extra = {"mfu": rate * flops / peak} if peak else {}
                metrics.write("train", step, loss=loss_value, lr=scheduler.get_last_lr()[0], tokens_per_s=rate,
                              grad_norm=grad_norm, **extra)
            bar.update(step, note=f"loss {loss_value:.3f}, {rate:,.0f} tok/s")
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                # Every rank evaluates: under FSDP the forward pass itself is collective.
                val = mean_loss(raw, val_rows, cfg.eval_rows, cfg.micro_batch, dist.device)
                if metrics and val is not None:
                    metrics.write("val", step, loss=val)
            if cfg.minutes and cfg.schedule == "wsd" and step % cfg.log_every == 0:
                length = round(dist.mean(budget.length(cfg, step)))  # every rank takes part and agrees
                if length != cfg.max_steps:
                    if abs(length - cfg.max_steps) > 0.02 * cfg.max_steps:
                        log(f"time budget of {cfg.minutes:g} minutes: {length} steps at the measured pace")
                    cfg = dataclasses.replace(cfg, max_steps=length)
                    bar.update(step, total=length)
            stopping = dist.any(stop.requested or should_stop() or budget.over())
            before_decay = cfg.schedule == "wsd" and step == decay_start(cfg)  # where an extension resumes
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps or stopping or before_decay:
                save(step)
            if stopping:
                break
    bar.close()
    if metrics:
        metrics.close()
    return FitResult(step, step < cfg.max_steps, loss_value, val, parallel.full_model_state(), budget.over())




def save_model_folder(model, tokenizer_dir: Path, out: Path, state_dict: dict | None = None) -> Path:
    """A transformers checkpoint folder (weights, config, tokenizer) that `cove convert` takes; swapped in whole."""
    import shutil

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, state_dict=state_dict)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy2(tokenizer_dir / name, tmp / name)
    old = out.with_name(f".{out.name}.old")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return out

