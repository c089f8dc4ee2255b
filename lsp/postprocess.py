"""Turning what the model wrote into what the editor shows.

Pure functions over strings. Users' top complaints about editor completion tools are
completions that break syntax, repeat the text after the cursor, or run on past the
block; each step here fixes one of those, in the order `finish` applies: characters of
broken output, line and blank-line stops, the indentation-aware block end, lines the
suffix already has, brackets the suffix already closes, a tail that repeats the suffix,
and whitespace.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

#: closer -> opener.
BRACKETS = {")": "(", "]": "[", "}": "{"}
#: Characters that may follow the cursor without making it "mid-line": editors auto-close these.
CLOSING_TAIL = ")]}\"'`;,: \t"
#: Where a multi-line completion stops: a blank line ends a paragraph of code.
BLANK_LINE = "\n\n"
#: A cursor line written again below itself is cut from this many characters (stripped).
MIN_REPEATED_LINE = 8
#: Unicode categories no code completion contains: control and unassigned characters,
#: and the line/paragraph separators that editors split lines at.
GARBAGE = {"Cc", "Cs", "Co", "Cn", "Zl", "Zp"}


@dataclass(frozen=True)
class Rules:
    """Stop rules for one request, chosen from where the cursor is."""

    single_line: bool
    #: Texts that end generation early (the engine stops on them, `finish` cuts at them).
    stop_texts: tuple[str, ...]


def rules_for(line_prefix: str, line_suffix: str, *, multiline: bool, max_chars_after_cursor: int) -> Rules | None:
    """The stop rules for a cursor between `line_prefix` and `line_suffix`, or None when
    no completion should be offered (the user is editing inside a line of text)."""
    if len(line_suffix.strip().rstrip(CLOSING_TAIL)) > max_chars_after_cursor:
        return None
    single = bool(line_suffix.strip()) or not multiline
    return Rules(single_line=single, stop_texts=() if single else (BLANK_LINE,))


def finish(text: str, *, prefix: str, suffix: str, line_prefix: str, rules: Rules) -> str:
    """The completion to show for model output `text`; "" when there is nothing worth showing."""
    line_suffix = suffix.split("\n", 1)[0]
    text = drop_garbage(text)
    for stop in ("\n",) * rules.single_line + rules.stop_texts:
        text = _cut(text, stop)
    if not rules.single_line:
        text = block_end(text, line_prefix)
        text = drop_repeated_lines(text, suffix, line_prefix)
    text = balance_brackets(text, prefix, line_suffix)
    text = trim_suffix_overlap(text, line_suffix).rstrip()
    return text if text.strip() else ""


def _cut(text: str, stop: str) -> str:
    index = text.find(stop)
    return text if index < 0 else text[:index]


def drop_garbage(text: str) -> str:
    """`text` without characters no code completion contains: control characters (tabs and
    newlines aside), invalid bytes decoded as U+FFFD, line separators (editors would split
    lines there and disagree with the server about positions)."""
    return "".join(c for c in text if c in "\t\n" or not (c == "\ufffd" or unicodedata.category(c) in GARBAGE))


def indent(line: str) -> int:
    """Width of a line's leading whitespace (tabs count 4)."""
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def block_end(text: str, line_prefix: str) -> str:
    """`text` cut where its block ends: at a line indented less than the cursor line, or at
    a line back at the cursor line's level after the completion went deeper (a closing
    bracket line there is kept: it ends the block the completion opened)."""
    lines = text.split("\n")
    base = indent(line_prefix + lines[0]) if not line_prefix.strip() else indent(line_prefix)
    went_deeper = False
    for number, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        level = indent(line)
        if level < base:
            return "\n".join(lines[:number])
        if level == base and went_deeper:
            closes = line.strip()[0] in BRACKETS
            return "\n".join(lines[:number + 1] if closes else lines[:number])
        went_deeper = went_deeper or level > base
    return text


def drop_repeated_lines(text: str, suffix: str, line_prefix: str = "") -> str:
    """`text` cut before a line that repeats the first non-blank line after the cursor line
    (the model is rewriting code that is already there) or the cursor line as the completion
    finishes it, when that says something (the model is starting the same line over; `}` or
    `else:` may well come again)."""
    lines = text.split("\n")
    below = [line.strip() for line in suffix.split("\n")[1:] if line.strip()]
    repeats = set(below[:1])
    current = (line_prefix + lines[0]).strip()
    if len(current) >= MIN_REPEATED_LINE and any(char.isalnum() for char in current):
        repeats.add(current)
    for number, line in enumerate(lines):
        if number > 0 and line.strip() in repeats:
            return "\n".join(lines[:number])
    return text


def open_brackets(text: str) -> list[str]:
    """The openers left unclosed in `text`, innermost last (quotes are not parsed: a rough
    but cheap reading that is right for code outside string literals)."""
    stack: list[str] = []
    for char in text:
        if char in "([{":
            stack.append(char)
        elif char in BRACKETS and stack and stack[-1] == BRACKETS[char]:
            stack.pop()
    return stack


def balance_brackets(text: str, prefix: str, line_suffix: str) -> str:
    """`text` cut at the first closing bracket that breaks the syntax: one that closes
    nothing, closes the wrong opener, or closes what the text after the cursor already closes."""
    own: list[str] = []
    outer = open_brackets(prefix)
    following = line_suffix.lstrip()
    for index, char in enumerate(text):
        if char in "([{":
            own.append(char)
        elif char in BRACKETS:
            if own:
                if own.pop() != BRACKETS[char]:
                    return text[:index]
            elif not outer or outer[-1] != BRACKETS[char] or following.startswith(char):
                return text[:index]
            else:
                outer.pop()
    return text


def trim_suffix_overlap(text: str, line_suffix: str) -> str:
    """`text` without a tail that the rest of the line repeats (`x = f(a);` before `;`).

    Tails made only of closing brackets are left to `balance_brackets`, which knows whether
    they are needed."""
    for size in range(min(len(text), len(line_suffix)), 0, -1):
        tail = line_suffix[:size]
        if text.endswith(tail) and tail.strip(")]} \t"):
            return text[:-size]
    return text
