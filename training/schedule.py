"""Learning-rate schedules, and where a resumed or extended run continues from.

`cosine`: linear warmup, then cosine decay to min_lr over the whole run; its every step
depends on the run's length, so it cannot be made longer after the fact.
`wsd` (warmup-stable-decay): linear warmup, a constant learning rate, then a linear
decay to min_lr over the last `decay_share` of the steps. It matches cosine at the same
length, and the stable phase does not depend on the length: a finished run can be
extended by resuming from its last checkpoint before the decay and decaying again at
the new end, which gives exactly the run that would have been trained at the new length.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Callable

from assistant.atomic import write_atomic
from assistant.errors import CoveError
from training import checkpoint
from training.config import TrainConfig


def decay_start(cfg: TrainConfig) -> int:
    """The first step whose learning rate is below the peak (cosine: right after warmup)."""
    if cfg.schedule == "cosine":
        return cfg.warmup_steps
    return max(cfg.warmup_steps, cfg.max_steps - round(cfg.decay_share * cfg.max_steps))


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based) relative to the peak: warmup, then the schedule."""
    if step < cfg.warmup_steps:
        return (step + 1) / (cfg.warmup_steps + 1)
    start = decay_start(cfg)
    progress = min(1.0, max(0, step - start) / max(1, cfg.max_steps - start))
    floor = cfg.min_lr / cfg.lr
    if cfg.schedule == "wsd":
        return 1 - progress * (1 - floor)
    return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (1 - floor)


def steps_within(cfg: TrainConfig, step: int, step_s: float, seconds_left: float) -> int:
    """A wsd run's length when, at `step`, `seconds_left` remain at `step_s` seconds a step.

    Never so short that the decay would have begun before `step` (the learning rate would
    jump down): a run that turns out slower than its budget starts its decay now, and the
    budget's deadline then cuts what does not fit.
    """
    fitted = step + int(seconds_left / step_s)
    decays_now = math.ceil((step + 1) / (1 - cfg.decay_share)) if cfg.decay_share < 1 else step + 1
    return max(fitted, decays_now, cfg.warmup_steps + 1)


def resume_point(run: Path, cfg: TrainConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """The checkpoint state `cfg`'s course continues from.

    Normally the newest checkpoint. When `cfg` asks for a different number of steps than
    the checkpoint's run (an extension, wsd only), the newest checkpoint taken before
    either run's decay began: the later checkpoints (and their metrics) belong to the old
    decay and are removed, so the run then repeats exactly the longer run's course.
    """
    folder = run / "checkpoints"
    latest = checkpoint.latest(folder)
    if latest is None:
        raise CoveError(f"--resume: no checkpoint in {folder}: run without --resume to start")
    state = checkpoint.load(latest)
    saved_steps = state["config"]["max_steps"]
    if saved_steps == cfg.max_steps or cfg.minutes:  # a budgeted run keeps sizing itself from its pace
        log(f"resuming from {latest.name} at step {state['step']}")
        return state
    if cfg.schedule != "wsd" or state["config"].get("schedule") != "wsd":
        raise CoveError(f"cannot resume: max_steps was {saved_steps} in the checkpoint but is now {cfg.max_steps}; "
                        "only a run with schedule = \"wsd\" can change its length")
    limit = min(decay_start(dataclasses.replace(cfg, max_steps=saved_steps)), decay_start(cfg))
    found = checkpoint.newest_at_or_before(folder, limit)
    if found is None:
        raise CoveError(f"cannot change max_steps to {cfg.max_steps}: no checkpoint at or before step {limit}, "
                        "where the decay begins; start a new run folder")
    state = checkpoint.load(found)
    checkpoint.drop_after(folder, state["step"])
    _truncate_metrics(run / "metrics.jsonl", state["step"])
    log(f"extending the run from {saved_steps} to {cfg.max_steps} steps: resuming from {found.name} "
        f"at step {state['step']}, before the decay")
    return state


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the records of steps after `step`, so the log describes one course."""
    if path.is_file():
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        write_atomic(path, "".join(f"{line}\n" for line in kept))
