"""What the model sees: a document and a cursor turned into prefix, suffix and extra chunks.

Pure functions, no LSP and no model: token counts come from a `count` callable.

The prompt is built so that consecutive keystrokes share as long a token prefix as
possible (llama.cpp then evaluates only the new tokens):
- windows end on line boundaries, and the prefix window's first line moves on a grid of
  `ANCHOR_LINES` lines, so it stays put while the user types;
- chunks from other files come first and are chosen by similarity to the lines *above*
  the cursor line, so typing within a line never changes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from assistant.fim import ContextChunk

Count = Callable[[str], int]

#: The prefix window starts on a multiple of this many lines (or at the top of the file).
ANCHOR_LINES = 16
#: Lines per chunk of another file (llama.vim uses 64; smaller fits small budgets better).
CHUNK_LINES = 32
#: How many complete lines above the cursor line the similarity query reads.
QUERY_LINES = 12

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE_END = re.compile(r"\r\n?")


@dataclass(frozen=True)
class Budget:
    """Token budgets of the three parts of the prompt."""

    prefix: int
    suffix: int
    extra: int


def fit(budget: Budget, max_tokens: int, room: int | None) -> tuple[Budget, int]:
    """`budget` and `max_tokens` shrunk so windows and answer take at most `room` tokens
    (a backend's context less its prompt's own tokens; None: no limit). The answer keeps
    at most a quarter of the room; the windows share the rest in their set proportions,
    so a small context gets smaller windows rather than refused requests."""
    if room is None:
        return budget, max_tokens
    max_tokens = max(1, min(max_tokens, room // 4))
    windows = room - max_tokens
    total = budget.prefix + budget.suffix + budget.extra
    if total <= windows:
        return budget, max_tokens
    scale = windows / total
    return Budget(int(budget.prefix * scale), int(budget.suffix * scale), int(budget.extra * scale)), max_tokens


@dataclass(frozen=True)
class Source:
    """Another document the prompt may borrow from (open, or recently edited)."""

    path: str
    text: str


@dataclass(frozen=True)
class Window:
    """The parts of the prompt around one cursor position (text with "\\n" line ends)."""

    prefix: str
    suffix: str
    #: The cursor line split at the cursor.
    line_prefix: str
    line_suffix: str


def normalize_newlines(text: str, offset: int) -> tuple[str, int]:
    """`text` with CRLF and lone CR line ends as "\\n", and `offset` moved to match.

    Models are trained on "\\n"; the server converts completions back for CRLF files.
    """
    if "\r" not in text:
        return text, offset
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        offset -= 1  # between CR and LF: the cursor is at the end of the line
    head = _LINE_END.sub("\n", text[:offset])
    return head + _LINE_END.sub("\n", text[offset:]), len(head)


def cursor_line(text: str, offset: int) -> tuple[str, str]:
    """The line of `text` ("\\n" line ends) that `offset` is on, split there."""
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    return text[line_start:offset], text[offset:len(text) if line_end < 0 else line_end]


def window(text: str, offset: int, budget: Budget, count: Count) -> Window:
    """The prefix and suffix for a cursor at `offset` of `text` ("\\n" line ends)."""
    line_prefix, line_suffix = cursor_line(text, offset)
    line_start, line_end = offset - len(line_prefix), offset + len(line_suffix)
    above = text[:line_start].splitlines(keepends=True)
    below = text[line_end:].splitlines(keepends=True)
    prefix_lines = _prefix_lines(above, budget.prefix - count(line_prefix), count)
    suffix = line_suffix + "".join(_fit(below, budget.suffix - count(line_suffix), count))
    return Window("".join(prefix_lines) + line_prefix, suffix, line_prefix, line_suffix)


def similarity_query(text: str, offset: int) -> str:
    """The complete lines above the cursor line that pick the extra chunks: typing within
    a line leaves them, and so the prompt's first part, unchanged."""
    line_start = text.rfind("\n", 0, offset) + 1
    return "".join(text[:line_start].splitlines(keepends=True)[-QUERY_LINES:])


def _prefix_lines(lines: list[str], budget: int, count: Count) -> list[str]:
    """The last lines that fit `budget`, starting on a grid of `ANCHOR_LINES` lines
    (finer for small windows)."""
    kept = len(_fit(reversed(lines), budget, count))
    start = len(lines) - kept
    step = max(1, min(ANCHOR_LINES, kept // 2))  # never give up more than half the window
    return lines[-(-start // step) * step:]


def _fit(lines: Iterable[str], budget: int, count: Count) -> list[str]:
    """The leading `lines` whose token counts sum to at most `budget`."""
    kept: list[str] = []
    for line in lines:
        budget -= count(line)
        if budget < 0:
            break
        kept.append(line)
    return kept


def chunks_of(source: Source, lines: int = CHUNK_LINES) -> list[ContextChunk]:
    """`source` cut into runs of `lines` lines, blank-only runs left out."""
    all_lines = source.text.splitlines(keepends=True)
    runs = ("".join(all_lines[i:i + lines]) for i in range(0, len(all_lines), lines))
    return [ContextChunk(source.path, run) for run in runs if run.strip()]


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the identifier sets of two texts."""
    left, right = set(_IDENTIFIER.findall(a)), set(_IDENTIFIER.findall(b))
    union = left | right
    return len(left & right) / len(union) if union else 0.0


def similar_chunks(sources: Sequence[Source], query: str, budget: int, count: Count) -> tuple[ContextChunk, ...]:
    """The chunks of `sources` most similar to `query` that fit `budget` tokens, in a
    stable order (by source, then position) so an unchanged choice gives an unchanged prompt."""
    candidates = [(chunk, order) for order, chunk in enumerate(c for s in sources for c in chunks_of(s))]
    scored = sorted(((similarity(query, chunk.text), -order, chunk) for chunk, order in candidates), reverse=True)
    chosen: list[tuple[int, ContextChunk]] = []
    for score, negative_order, chunk in scored:
        if score <= 0:
            break
        cost = count(f"{chunk.path}\n{chunk.text}\n")
        if cost <= budget:
            budget -= cost
            chosen.append((-negative_order, chunk))
    return tuple(chunk for _, chunk in sorted(chosen, key=lambda item: item[0]))
