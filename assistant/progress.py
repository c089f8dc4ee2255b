"""Progress of a long job (converting, quantizing, training) that suits where it is shown.

A terminal gets one line redrawn in place with carriage returns. A log file, a pipe or
CI would keep every redraw, a single "line" megabytes long, so there each step is
written as a line of its own, at most one per step (and, for jobs of many fast steps,
at most one per `line_interval_s`). Stdlib only: `cove quantize` runs without the
training extras.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Fastest redraw of a terminal line; faster only costs time.
REDRAW_INTERVAL_S = 0.1


class Progress:
    """Steps done of a total; `update` after each step, `close` (or `with`) at the end.
    Disabled, it only counts: callers need no `if progress:` around each call."""

    def __init__(self, label: str, total: int | None = None, *, initial: int = 0, stream: TextIO | None = None,
                 line_interval_s: float = 0.0, enabled: bool = True) -> None:
        self.enabled = enabled
        self.label = label
        self.total = total
        self.done = initial
        self._initial = initial
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()
        self._line_interval_s = line_interval_s
        self._started = time.perf_counter()
        #: When the last line was written, and for which step (never two lines for one step).
        self._shown_at = float("-inf")
        self._shown_step: int | None = None
        self._width = 0

    def update(self, done: int | None = None, *, total: int | None = None, note: str = "") -> None:
        """Record progress: `done` steps so far (default one more), with a short note."""
        self.done = self.done + 1 if done is None else done
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        now = time.perf_counter()
        last = self.total is not None and self.done >= self.total
        interval = REDRAW_INTERVAL_S if self._live else self._line_interval_s
        if self.done == self._shown_step or (now - self._shown_at < interval and not last):
            return
        self._shown_at, self._shown_step = now, self.done
        text = self._text(note, now)
        if self._live:
            self._stream.write(f"\r{text:<{self._width}}")
            self._width = len(text)
        else:
            self._stream.write(text.rstrip() + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End the redrawn line (lines written one per step are already complete)."""
        if self.enabled and self._live and self._shown_step is not None:
            self._stream.write("\n")
            self._stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _text(self, note: str, now: float) -> str:
        count = f"[{self.done}/{self.total}]" if self.total is not None else f"[{self.done}]"
        parts = [self.label, count, note]
        elapsed = now - self._started
        if self.total is not None and self.done > self._initial and elapsed >= 1:
            left = (self.total - self.done) * elapsed / (self.done - self._initial)
            parts.append(f"{elapsed:.0f}s elapsed, ~{left:.0f}s left")
        return " ".join(part for part in parts if part)
