"""How sure the model was of what it wrote: log-probabilities of the tokens it chose.

A small model writes plausible-looking garbage as readily as right code; the difference
shows in its own probabilities. The language server hides completions whose mean
token log-probability is low (settings `minConfidence`), the benchmarks choose that
threshold on held-out code, and `complete --json` reports both figures.

Read from llama.cpp's logits of the last decoded position, right after a token was
sampled from them and before it is evaluated: no extra model work, one log-sum-exp over
the vocabulary per token.
"""

from __future__ import annotations

import math

import numpy as np


class Confidence:
    """Running mean and minimum log-probability (natural log) of chosen tokens."""

    def __init__(self, llama: object) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._ctx = llama.ctx
        self._n_vocab = llama.n_vocab()
        self._sum = 0.0
        self.count = 0
        self.minimum: float | None = None

    def add(self, token: int) -> None:
        """Account for `token`, sampled from the logits of the last decoded position."""
        pointer = self._lib.llama_get_logits_ith(self._ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        top = float(logits.max())
        logprob = float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))
        self._sum += logprob
        self.count += 1
        self.minimum = logprob if self.minimum is None else min(self.minimum, logprob)

    @property
    def mean(self) -> float | None:
        return self._sum / self.count if self.count else None
