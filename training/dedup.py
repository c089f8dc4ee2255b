"""Exact and near-duplicate removal: copies teach a small model to recite, not to code.

Exact duplicates by content hash; near duplicates by MinHash over word 5-grams with LSH
(datasketch), which catches the families of near-identical tables that otherwise
dominate what a small model learns (see docs: the stdlib `encodings/` lesson).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Iterable, Iterator

from training.sources import SourceFile

_WORD = re.compile(r"\w+")
NUM_PERM = 128
SHINGLE = 5


def _shingles(text: str) -> set[bytes]:
    words = _WORD.findall(text)
    if len(words) < SHINGLE:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def deduplicate(files: Iterable[SourceFile], threshold: float, dropped: Counter) -> Iterator[SourceFile]:
    """The first of every group of exact or near duplicates, in input order."""
    from datasketch import MinHash, MinHashLSH

    seen: set[str] = set()
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for index, source in enumerate(files):
        digest = hashlib.sha256(source.text.encode()).hexdigest()
        if digest in seen:
            dropped["exact_duplicate"] += 1
            continue
        seen.add(digest)
        signature = MinHash(num_perm=NUM_PERM, seed=1)
        signature.update_batch(list(_shingles(source.text)))
        if lsh.query(signature):
            dropped["near_duplicate"] += 1
            continue
        lsh.insert(str(index), signature)
        yield source
