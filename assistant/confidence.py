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
        #: (characters of text, log-probability) per token, in order: what a caller needs
        #: to judge only the part of the text it shows.
        self.tokens: list[tuple[int, float]] = []

    def add(self, token: int, chars: int) -> None:
        """Account for `token` (`chars` characters of text), sampled from the logits of the
        last decoded position."""
        pointer = self._lib.llama_get_logits_ith(self._ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        top = float(logits.max())
        logprob = float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))
        self._sum += logprob
        self.count += 1
        self.tokens.append((chars, logprob))
        self.minimum = logprob if self.minimum is None else min(self.minimum, logprob)

    @property
    def mean(self) -> float | None:
        return self._sum / self.count if self.count else None


def of_prefix(tokens: list[tuple[int, float]], chars: int) -> tuple[float | None, float | None]:
    """(mean, lowest) log-probability of the tokens that wrote the first `chars` characters:
    the part of a completion that is shown, after post-processing cut the rest."""
    logprobs, covered = [], 0
    for length, logprob in tokens:
        if covered >= chars:
            break
        logprobs.append(logprob)
        covered += length
    if not logprobs:
        return None, None
    return sum(logprobs) / len(logprobs), min(logprobs)
