"""Token healing: a prompt cut inside a word is asked from the word's last token boundary.

An editor asks for a completion wherever the user stopped typing, most often inside a
word: `path = os.path.jo|`. The tokenizer spells that prefix with a last token `jo` that
training almost never saw before `in(`, because `join` is one token; the model, shown
`jo`, continues some other word or repeats the line. Healing takes the last token off
the prompt and lets the model write it again, allowing for the first generated token only
tokens that start with the removed text (`join`, `job`, `jo`...), then takes that text off
the answer. The model picks among the words the user may be typing at its own odds.

Greedy infill only: the first token is the likeliest allowed one. The answer's
confidence counts it at its probability among the allowed tokens, the odds of the choice
the model actually made.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Callable, Generator, Iterator, Sequence

import numpy as np


class Vocabulary:
    """Every token's bytes in sorted order, to find the tokens that start with some bytes."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        order = sorted((piece, token) for token, piece in enumerate(pieces) if piece)
        self._pieces = [piece for piece, _ in order]
        self._tokens = np.array([token for _, token in order], dtype=np.int64)

    def starting_with(self, head: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes start with `head` (all of it): a run in sorted
        order, found by bisection (a lone space starts a third of a code vocabulary)."""
        start = low = bisect_left(self._pieces, head)
        high = len(self._pieces)
        while low < high:
            middle = (low + high) // 2
            if self._pieces[middle].startswith(head):
                low = middle + 1
            else:
                high = middle
        return self._tokens[start:low]


class TokenHealer:
    """Where a model's prompt is healed: the last token of a prefix and its replacements.
    The vocabulary index is built on the first healed request (0.6 s for Gemma 3's
    262k tokens here; a language server's warm-up at a cursor inside a word pays it)."""

    def __init__(self, tokenize: Callable[[str], list[int]], piece: Callable[[int], bytes], n_vocab: int) -> None:
        self._tokenize, self._piece, self._n_vocab = tokenize, piece, n_vocab
        self._vocabulary: Vocabulary | None = None

    def split(self, prefix: str) -> tuple[str, np.ndarray | None]:
        """The text of `prefix`'s last token and the tokens that may be written in its place;
        ("", None) when there is nothing to heal."""
        ids = self._tokenize(prefix[prefix.rfind("\n") + 1:])  # the last line spells its last token alike
        if not ids:
            return "", None
        piece = self._piece(ids[-1])
        head = piece.decode("utf-8", errors="replace")
        if not head or "\ufffd" in head or not prefix.endswith(head):
            return "", None  # a byte of a longer character, or a tokenizer that respells the line
        if self._vocabulary is None:
            self._vocabulary = Vocabulary([self._piece(token) for token in range(self._n_vocab)])
        allowed = self._vocabulary.starting_with(piece)
        return (head, allowed) if len(allowed) else ("", None)


def choose(logits: np.ndarray, allowed: np.ndarray) -> tuple[int, float]:
    """The likeliest token of `allowed`, and its log-probability among them."""
    scores = logits[allowed].astype(np.float64)
    best = int(np.argmax(scores))
    top = scores[best]
    return int(allowed[best]), -math.log(float(np.exp(scores - top).sum()))


def without_head(pieces: Generator[str, None, None], head: str) -> Iterator[str]:
    """Streamed `pieces` of an answer that starts by writing `head` again, without it.
    Closing this closes `pieces`, which releases the model."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            if len(text) >= len(head):
                break
        else:
            return  # the answer ended inside the head: nothing new
        if rest := text.removeprefix(head):
            yield rest
        yield from pieces
    finally:
        pieces.close()
