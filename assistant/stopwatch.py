"""Where one request's time goes: milliseconds per named stage, in the order they ran.

A keystroke's completion passes through the language server, the completer, a worker
thread and the engine; each adds the stages it runs to one `Stopwatch`, and `cove.status`
and the benchmarks report them (docs/BENCHMARKS.md), so time spent outside llama.cpp's
decoding is seen, not guessed.
"""

from __future__ import annotations

import time
from typing import Mapping


class Stopwatch:
    """Stages of one request: each `lap` ends the stage that ran since the previous one.

    Laps may come from several threads as long as they follow each other in time (a
    request hands its work from the event loop to the worker and back)."""

    def __init__(self, stages: dict[str, float] | None = None) -> None:
        #: Stage -> milliseconds; a stage run twice adds up.
        self.stages: dict[str, float] = {} if stages is None else stages
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """End `stage` now."""
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + 1000 * (now - self._last)
        self._last = now

    def took(self, stages: Mapping[str, float]) -> None:
        """Add stages timed by another stopwatch (the engine's) that ran since the last lap;
        the next lap counts only what came after them."""
        for stage, ms in stages.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + ms
        self._last += sum(stages.values()) / 1000

    @property
    def total_ms(self) -> float:
        return sum(self.stages.values())
