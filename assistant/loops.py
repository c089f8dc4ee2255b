"""Where generated text starts looping, and how much of it might still turn into a loop.

Small and base models, decoded greedily, fall into cycles: a line written again and
again (`print(is_palindrome("hello"))` thirty times), a block of lines that repeats
(`def add(a, b):` / `return b` / `def add(a, b):` ...), or a phrase inside one line
(`From the From the From the`). Pure functions over the text so far; the stop scanner
(stopping.py) asks them after every piece, stops at the first copy's end, and holds back
text that may yet turn out to be a repeat, so nothing it must take back is ever shown.
"""

from __future__ import annotations

#: Longest block of lines, and longest in-line phrase, that is checked for repeats.
MAX_BLOCK_LINES = 8
MAX_PHRASE_CHARS = 64
#: A repeat smaller than this (closing brackets, `pass`, blank lines) is ordinary code.
MIN_LOOP_CHARS = 8
#: A phrase loop needs this many back-to-back copies (a word said twice is often fine).
PHRASE_COPIES = 3
MIN_PHRASE_CHARS = 3
#: A line's tail is held back once this many characters repeat the text a phrase earlier.
HOLD_PHRASE_CHARS = 2


def _line_starts(lines: list[str]) -> list[int]:
    starts, position = [], 0
    for line in lines:
        starts.append(position)
        position += len(line) + 1
    return starts


def _substantial(lines: list[str]) -> bool:
    text = "".join(line.strip() for line in lines)
    return len(text) >= MIN_LOOP_CHARS and any(c.isalnum() for c in text)


def _repeated_lines(lines: list[str], period: int) -> int:
    """How many complete lines at the end (the unfinished last one excluded) equal the
    line `period` lines before them."""
    run, index = 0, len(lines) - 2
    while index - period >= 0 and lines[index] == lines[index - period]:
        run += 1
        index -= 1
    return run


def _phrase_run(line: str, unit: int) -> int:
    """How many characters at the end of `line` equal the character `unit` before them."""
    run = 0
    while run < len(line) - unit and line[-1 - run] == line[-1 - run - unit]:
        run += 1
    return run


def _phrase_ok(phrase: str) -> bool:
    return any(c.isalpha() for c in phrase) and len(phrase.strip()) >= MIN_PHRASE_CHARS


def loop_cut(text: str) -> int | None:
    """Where to cut `text` so one copy of a loop stays, or None when it does not loop."""
    lines = text.split("\n")
    starts = _line_starts(lines)
    for period in range(1, MAX_BLOCK_LINES + 1):
        run = _repeated_lines(lines, period)
        first = len(lines) - 1 - run
        if run >= period and _substantial(lines[first:first + period]):
            return starts[first]
    line = lines[-1]
    for unit in range(MIN_PHRASE_CHARS, min(MAX_PHRASE_CHARS, len(line) // PHRASE_COPIES) + 1):
        run = _phrase_run(line, unit)
        if run >= (PHRASE_COPIES - 1) * unit and _phrase_ok(line[len(line) - run - unit:len(line) - run]):
            return starts[-1] + len(line) - run
    return None


def loop_hold(text: str) -> int:
    """The earliest index from which `text` may be the start of a repeat in progress (a
    caller shows only what comes before it); len(text) when nothing is suspect."""
    lines = text.split("\n")
    starts = _line_starts(lines)
    hold = len(text)
    partial = lines[-1]
    for period in range(1, MAX_BLOCK_LINES + 1):
        run = _repeated_lines(lines, period)
        first = len(lines) - 1 - run
        if first - period >= 0 and lines[first - period + run].startswith(partial) and (run or partial):
            hold = min(hold, starts[first])
    for unit in range(MIN_PHRASE_CHARS, min(MAX_PHRASE_CHARS, len(partial) - HOLD_PHRASE_CHARS) + 1):
        run = _phrase_run(partial, unit)
        if run >= HOLD_PHRASE_CHARS and _phrase_ok(partial[len(partial) - run - unit:len(partial) - run]):
            hold = min(hold, starts[-1] + len(partial) - run)
    return hold
