"""Completion results kept by prefix and suffix, so a repeated or typed-into request costs nothing.

When the user types the first characters of a shown completion, the new prefix is the old
prefix plus those characters and the suffix is unchanged: the rest of the cached
completion is still the answer (Continue and llama.vim serve the same way).
"""

from __future__ import annotations

from collections import OrderedDict


class ResultCache:
    """A least-recently-used map (prefix, suffix) -> completion."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, prefix: str, suffix: str, completion: str) -> None:
        self._entries[(prefix, suffix)] = completion
        self._entries.move_to_end((prefix, suffix))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, prefix: str, suffix: str) -> str | None:
        """The completion for this cursor, or None when nothing cached answers it.

        An exact hit may be "" (the model had nothing to add here); a typed-into hit is
        the untyped rest of a longer completion and never empty."""
        key = (prefix, suffix)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        for (cached_prefix, cached_suffix), completion in reversed(self._entries.items()):
            if cached_suffix != suffix or not prefix.startswith(cached_prefix):
                continue
            typed = prefix[len(cached_prefix):]
            if len(completion) > len(typed) and completion.startswith(typed):
                self._entries.move_to_end((cached_prefix, cached_suffix))
                return completion[len(typed):]
        return None

    def clear(self) -> None:
        self._entries.clear()
