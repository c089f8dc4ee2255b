"""Full training state on disk: model, optimizer, scheduler, RNG, data position, config.

Writes are atomic (temporary file in the same folder, then os.replace), so a run killed
mid-save leaves the previous checkpoint intact; only the newest `keep_last` are kept.
A warmup-stable-decay run also keeps its last checkpoint before the decay (`stable-*`),
the point an extended run continues from (training/schedule.py).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")
_STABLE = re.compile(r"^stable-(\d{8})\.pt$")


def rng_state() -> dict[str, Any]:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def latest(folder: Path) -> Path | None:
    found = checkpoints(folder)
    return found[-1] if found else None


def save(folder: Path, step: int, state: dict[str, Any], keep_last: int) -> Path:
    """Write `state` as checkpoint `step` atomically, then drop all but the newest `keep_last`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ckpt-{step:08d}.pt"
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    torch.save({"step": step, **state}, tmp)
    os.replace(tmp, path)
    for old in checkpoints(folder)[:-keep_last]:
        old.unlink()
    return path


def keep_as_stable(path: Path) -> Path:
    """Keep checkpoint `path` as the run's pre-decay point (a hard link, so pruning leaves it); one is kept."""
    folder = path.parent
    target = folder / f"stable-{path.name.removeprefix('ckpt-')}"
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.link(path, tmp)
    os.replace(tmp, target)
    for old in folder.iterdir():
        if _STABLE.match(old.name) and old != target:
            old.unlink()
    return target


def _step_of(path: Path) -> int:
    return int((_NAME.match(path.name) or _STABLE.match(path.name)).group(1))


def newest_at_or_before(folder: Path, step: int) -> Path | None:
    """The newest checkpoint (regular or pre-decay) of at most `step` steps."""
    if not folder.is_dir():
        return None
    found = [p for p in folder.iterdir() if (_NAME.match(p.name) or _STABLE.match(p.name)) and _step_of(p) <= step]
    return max(found, key=_step_of, default=None)


def drop_after(folder: Path, step: int) -> None:
    """Remove the regular checkpoints of more than `step` steps (a course that is being replaced)."""
    for path in checkpoints(folder):
        if _step_of(path) > step:
            path.unlink()


def load(path: Path) -> dict[str, Any]:
    import torch

    # Our own file: it holds RNG states (numpy arrays, tuples), so not weights-only.
    return torch.load(path, map_location="cpu", weights_only=False)
