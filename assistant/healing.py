"""Indentation healing: an infill prompt ends at a line's start, never inside its indentation.

A byte-level BPE for code merges a newline with the indentation after it, and the last
indentation space with the word that follows (`\\n   ` + ` return`). A prefix that stops
after `def f():\\n    ` therefore ends on a token (`\\n    `) that training showed before
brackets and comments, rarely before a fresh statement, and models answer it by
writing the indentation a second time or by continuing a word they think was cut.

Token healing (backing the prompt up to a clean boundary and letting the model write the
cut text again) fixes this in general. In an editor the cut text is almost always a fresh
line's indentation. So backing up to the line start, and taking the user's indentation
off the front of the answer, is enough.
"""

from __future__ import annotations

from typing import Callable, Generator, Iterator

INDENT_CHARS = " \t"


def split_indentation(prefix: str) -> tuple[str, str]:
    """(`prefix` up to its last line's start, that line) when the last line is indentation
    only; (`prefix`, "") otherwise, when there is nothing to heal."""
    start = prefix.rfind("\n") + 1
    line = prefix[start:]
    if line and not line.strip(INDENT_CHARS):
        return prefix[:start], line
    return prefix, ""


def strip_indentation(text: str, indentation: str) -> str:
    """`text`, written from a line's start, as it reads after the user's `indentation`.

    A deeper line keeps its extra indentation. A shallower one loses what it has, because
    the cursor's indentation was the user's choice (usually the editor's auto-indent)."""
    if text.startswith(indentation):
        return text[len(indentation):]
    return text.lstrip(INDENT_CHARS)


def _decided(head: str, indentation: str) -> bool:
    """Whether `head`, the answer so far, says how it relates to `indentation`."""
    return len(head) >= len(indentation) or bool(head.lstrip(INDENT_CHARS))


def healed(pieces: Generator[str, None, None], indentation: str,
           taken: Callable[[int], None] = lambda chars: None) -> Iterator[str]:
    """Streamed `pieces` of an answer written from a line's start, as text for the cursor
    after `indentation`; `taken` hears how many characters came off its start. Holds back
    only the answer's leading whitespace; closing this closes `pieces`, which releases the
    model."""
    head = ""
    try:
        for piece in pieces:
            head += piece
            if _decided(head, indentation):
                break
        else:
            return  # whitespace only, and less than the user already has: nothing to add
        text = strip_indentation(head, indentation)
        taken(len(head) - len(text))
        if text:
            yield text
        yield from pieces
    finally:
        pieces.close()
