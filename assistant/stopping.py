"""When generated text ends: stop texts, single-line mode, and holding back partial matches.

Pure and model-free, so the rules are unit-tested without llama.cpp. The scanner sees
decoded text as it streams and only releases what can no longer turn out to be the start
of a stop text, so a caller never shows text it must later take back.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StopRules:
    """Limits of one generation."""

    #: Most tokens to generate.
    max_tokens: int = 128
    #: Wall-clock budget for the whole request in seconds (prompt included); None is unlimited.
    time_budget_s: float | None = None
    #: Stop at the first newline (the newline is not part of the output).
    single_line: bool = False
    #: Plain texts that end the output (not part of it), e.g. "\n\n" or a closing fence.
    stop_texts: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be positive, got {self.time_budget_s}")
        if any(not text for text in self.stop_texts):
            raise ValueError("stop texts must not be empty")


class StopScanner:
    """Feeds streamed text through the stop rules; `feed` returns what may be shown now."""

    def __init__(self, rules: StopRules) -> None:
        self._stops = tuple(rules.stop_texts) + (("\n",) if rules.single_line else ())
        self._pending = ""
        self.stopped_by: str | None = None

    def feed(self, text: str) -> str:
        """Text safe to emit; after a stop text is found, `stopped_by` names it."""
        if self.stopped_by is not None:
            return ""
        self._pending += text
        hit = min(
            ((index, stop) for stop in self._stops if (index := self._pending.find(stop)) >= 0),
            default=None,
        )
        if hit is not None:
            index, stop = hit
            self.stopped_by = stop
            emit, self._pending = self._pending[:index], ""
            return emit
        keep = self._longest_partial_stop()
        emit = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(emit):]
        return emit

    def flush(self) -> str:
        """What was held back, once generation ended for another reason."""
        emit, self._pending = self._pending, ""
        return emit

    def _longest_partial_stop(self) -> int:
        """Length of the longest tail of the pending text that starts some stop text."""
        best = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(self._pending)), best, -1):
                if self._pending.endswith(stop[:length]):
                    best = length
                    break
        return best
