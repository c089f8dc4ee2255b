"""How sure the model was of what it wrote: log-probabilities of the tokens it chose.

A small model writes plausible-looking garbage as readily as right code; the difference
shows in its own probabilities. The language server ends a completion before the first
token the model was unsure of (settings `minConfidence`, StopRules.min_probability), the
benchmarks choose that floor on held-out code, and `complete --json` reports the mean and
lowest figure of what was shown.

Read from llama.cpp's logits of the last decoded position, right after a token was
sampled from them and before it is evaluated: no extra model work, one log-sum-exp over
the vocabulary per token.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


class TokenLogprobs:
    """Reads the log-probability (natural log) of a sampled token from llama.cpp's logits."""

    def __init__(self, llama: object) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._ctx = llama.ctx
        self._n_vocab = llama.n_vocab()

    def logits(self) -> np.ndarray:
        """The logits of the last decoded position (a view of llama.cpp's buffer)."""
        pointer = self._lib.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))

    def __call__(self, token: int) -> float:
        """The log-probability of `token`, sampled from the logits of the last decoded position."""
        logits = self.logits()
        top = float(logits.max())
        return float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))


def unsure(logprob: float, floor: float) -> bool:
    """Whether a token the model chose at `logprob` is below the gate's `floor` probability
    (StopRules.min_probability; 0 keeps every token): the engine, a remote server's stream
    and the benchmarks' simulation of the gate all end a completion there."""
    return math.exp(logprob) < floor


def summary(logprobs: Sequence[float]) -> tuple[float | None, float | None]:
    """(mean, lowest) of `logprobs`; (None, None) when there are none."""
    if not logprobs:
        return None, None
    return sum(logprobs) / len(logprobs), min(logprobs)


def shown(tokens: Sequence[tuple[int, float]], chars: int, healed_chars: int = 0) -> tuple[tuple[int, float], ...]:
    """The (characters shown, log-probability) of the tokens that wrote the first `chars`
    characters of a completion: the part that is shown, after post-processing cut the rest.
    The first `healed_chars` characters the tokens wrote were taken off by healing; tokens
    that wrote only those stay, with no characters shown (the model still chose them)."""
    figures, skipped, covered = [], 0, 0
    for length, logprob in tokens:
        if covered >= chars:
            break
        hidden = min(length, healed_chars - skipped)
        skipped += hidden
        figures.append((length - hidden, logprob))
        covered += length - hidden
    return tuple(figures)
