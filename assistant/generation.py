"""A streamed answer and what it cost: the figures `complete --json`, the status bar and the
benchmarks report. Kept apart from the engine that fills them in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Iterator

from assistant.confidence import summary


@dataclass
class GenerationStats:
    """What one request cost: the figures `complete --json` and the benchmarks report."""

    prompt_tokens: int = 0
    #: Prompt tokens reused from the KV cache instead of evaluated (prefix + shifted).
    cached_tokens: int = 0
    #: How the prompt was obtained (assistant/kv_reuse.py): evaluated, kept as the common
    #: prefix, kept and moved to new positions.
    evaluated_tokens: int = 0
    prefix_tokens: int = 0
    shifted_tokens: int = 0
    generated_tokens: int = 0
    #: From the request to the first generated token (prompt evaluation included).
    prompt_ms: float = 0.0
    generation_ms: float = 0.0
    total_ms: float = 0.0
    #: eog, max_tokens, context_full, time, stop_text, newline, suffix (the next line of the
    #: code after the cursor was written again), loop, unsure (the next token was less likely
    #: than StopRules.min_probability) or cancelled.
    stop_reason: str = ""
    #: (characters, log-probability) per generated token (assistant/confidence.py), for
    #: judging the part of the text that is shown.
    token_logprobs: list[tuple[int, float]] = field(default_factory=list)
    #: Characters the model wrote again at the start of its answer that healing took off
    #: (the user's indentation, the typed start of a word): the first tokens wrote them.
    healed_chars: int = 0
    #: The infill format of the prompt (`psm:starcoder`, `left-to-right`, ...); "" for generate().
    format: str = ""
    #: Milliseconds per stage of the request, in order (Engine._stream names them).
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def mean_logprob(self) -> float | None:
        """Mean log-probability of the generated tokens; None when nothing was generated."""
        return summary([logprob for _, logprob in self.token_logprobs])[0]

    @property
    def min_logprob(self) -> float | None:
        return summary([logprob for _, logprob in self.token_logprobs])[1]

    def figures(self) -> dict[str, object]:
        """The figures worth storing with a message: every field but the per-token list,
        with its mean and lowest instead."""
        figures = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "token_logprobs"}
        return figures | {"mean_logprob": self.mean_logprob, "min_logprob": self.min_logprob}

    @property
    def confidence(self) -> float | None:
        """The geometric-mean probability of the generated tokens, 0 to 1."""
        return math.exp(self.mean_logprob) if self.mean_logprob is not None else None

    @property
    def tokens_per_second(self) -> float:
        return 1000.0 * self.generated_tokens / self.generation_ms if self.generation_ms > 0 else 0.0


class Generation:
    """A streamed answer: iterate for text pieces; `text` and `stats` fill in as it runs."""

    def __init__(self, pieces: Iterator[str], stats: GenerationStats) -> None:
        self._pieces = pieces
        self.stats = stats
        self.text = ""

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self.text += piece
            yield piece

    def result(self) -> str:
        """Run to the end and return the whole text."""
        for _ in self:
            pass
        return self.text

    def close(self) -> None:
        """Stop generating (releases the model)."""
        self._pieces.close()
