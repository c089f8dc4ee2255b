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

import contextlib
import math
import threading
import zipfile
from bisect import bisect_left
from pathlib import Path
from typing import Callable, Generator, Iterator, Sequence

import numpy as np

from assistant.atomic import atomic_path
from assistant.errors import CoveError


#: Vocabulary index files kept in the cache (a few megabytes each for a large vocabulary).
KEEP_INDEXES = 16


class Vocabulary:
    """Every token's bytes in sorted order, to find the tokens that start with some bytes.
    Held as three arrays (the pieces end to end, where each starts, their token ids), so it
    is saved and loaded in milliseconds."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, tokens: np.ndarray) -> None:
        self._blob, self._offsets, self._tokens = blob, offsets, tokens

    @classmethod
    def of(cls, pieces: Sequence[bytes]) -> Vocabulary:
        """The index of `pieces` (token id -> bytes; control tokens, which write none, left out)."""
        order = sorted((piece, token) for token, piece in enumerate(pieces) if piece)
        offsets = np.cumsum([0] + [len(piece) for piece, _ in order], dtype=np.int64)
        blob = np.frombuffer(b"".join(piece for piece, _ in order), dtype=np.uint8)
        return cls(blob, offsets, np.array([token for _, token in order], dtype=np.int64))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        with np.load(path) as arrays:
            return cls(arrays["blob"], arrays["offsets"], arrays["tokens"])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temp:
            with open(temp, "wb") as handle:
                np.savez(handle, blob=self._blob, offsets=self._offsets, tokens=self._tokens)

    def _piece(self, index: int) -> bytes:
        return self._blob[self._offsets[index]:self._offsets[index + 1]].tobytes()

    def starting_with(self, head: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes start with `head` (all of it): a run in sorted
        order, found by bisection (a lone space starts a third of a code vocabulary)."""
        count = len(self._tokens)
        start = bisect_left(range(count), head, key=self._piece)
        end = bisect_left(range(start, count), True, key=lambda i: not self._piece(i).startswith(head)) + start
        return self._tokens[start:end]


class TokenHealer:
    """Where a model's prompt is healed: the last token of a prefix and its replacements.

    The vocabulary index takes a call into llama.cpp per token (0.6 s for Gemma 3's 262k
    tokens here), so it is built once per model file and kept in `cache` (loaded in
    milliseconds after that), on a thread from the start, while the model warms up; the
    first cursor inside a word waits only for what is left. `close` before the model is
    freed."""

    def __init__(self, tokenize: Callable[[str], list[int]], piece: Callable[[int], bytes], n_vocab: int,
                 cache: Path | None = None) -> None:
        self._tokenize, self._piece = tokenize, piece
        self._vocabulary: Vocabulary | None = None
        # Not a daemon: at exit Python waits for it before the model can be freed under it.
        self._indexing = threading.Thread(target=self._index, args=(n_vocab, cache), name="cove-vocabulary")
        self._indexing.start()

    def _index(self, n_vocab: int, cache: Path | None) -> None:
        if cache is not None and cache.is_file():
            try:
                self._vocabulary = Vocabulary.load(cache)
                cache.touch()  # recently used: kept by `_prune`
                return
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # damaged: built again below
        self._vocabulary = Vocabulary.of([self._piece(token) for token in range(n_vocab)])
        if cache is not None:
            with contextlib.suppress(OSError, CoveError):  # a cache that cannot be written costs time only
                self._vocabulary.save(cache)
                _prune(cache.parent)

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
        self._indexing.join()
        allowed = self._vocabulary.starting_with(piece)
        return (head, allowed) if len(allowed) else ("", None)

    def close(self) -> None:
        """Wait for the index (it reads the model's vocabulary)."""
        self._indexing.join()


def _prune(folder: Path) -> None:
    """Keep the `KEEP_INDEXES` most recently used index files of `folder` (one per model
    file, and model files come and go)."""
    indexes = sorted(folder.glob("*.npz"), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in indexes[KEEP_INDEXES:]:
        stale.unlink(missing_ok=True)


def choose(logits: np.ndarray, allowed: np.ndarray) -> tuple[int, float]:
    """The likeliest token of `allowed`, and its log-probability among them."""
    scores = logits[allowed].astype(np.float64)
    best = int(np.argmax(scores))
    top = scores[best]
    return int(allowed[best]), -math.log(float(np.exp(scores - top).sum()))


def without_head(pieces: Generator[str, None, None], head: str,
                 taken: Callable[[int], None] = lambda chars: None) -> Iterator[str]:
    """Streamed `pieces` of an answer that starts by writing `head` again, without it;
    `taken` hears how many characters came off. Closing this closes `pieces`, which
    releases the model."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            if len(text) >= len(head):
                break
        else:
            return  # the answer ended inside the head: nothing new
        rest = text.removeprefix(head)
        taken(len(text) - len(rest))
        if rest:
            yield rest
        yield from pieces
    finally:
        pieces.close()
