"""Backend failures as episodes: the user hears of a failing backend once, not per keystroke.

A failure after a success (or after loading) starts an episode and is reported; further
failures only update the last error; a success ends the episode, so the next failure is
reported again. The last error stays for `cove.status` after the backend recovers.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class Health:
    """Whether the backend is failing now, and its last error."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.failing = False
        self.last_error: str | None = None
        #: Wall-clock time of the last error (seconds since the epoch).
        self.last_error_at: float | None = None
        self._lock = threading.Lock()  # infills run on the worker, status reads on the loop

    def failed(self, message: str) -> None:
        with self._lock:
            starts_episode = not self.failing
            self.failing, self.last_error, self.last_error_at = True, message, time.time()
        if starts_episode:
            self.report(message)

    def recovered(self) -> None:
        """A success, or a freshly loaded backend: the next failure is news again."""
        self.failing = False

    def as_json(self) -> dict:
        at = self.last_error_at
        return {"failing": self.failing, "lastError": self.last_error,
                "lastErrorAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)) if at else None}
