"""Turning "file + cursor" into prefix and suffix: line/column positions and cursor markers."""

from __future__ import annotations

from assistant.errors import CoveError

#: What `cove complete` looks for in text given on standard input.
DEFAULT_MARKER = "<|cursor|>"


def split_at_position(text: str, line: int, column: int, name: str = "the file") -> tuple[str, str]:
    """Prefix and suffix around a 1-based line and column (columns count characters)."""
    lines = text.splitlines(keepends=True) or [""]
    if text.endswith("\n"):
        lines.append("")
    if not 1 <= line <= len(lines):
        raise CoveError(f"line {line} is outside {name} (lines 1-{len(lines)}): pass a line that exists")
    content = lines[line - 1].rstrip("\r\n")
    if not 1 <= column <= len(content) + 1:
        raise CoveError(
            f"column {column} is outside line {line} of {name} (columns 1-{len(content) + 1}): pass a column on the line"
        )
    offset = sum(len(l) for l in lines[: line - 1]) + column - 1
    return text[:offset], text[offset:]


def split_at_marker(text: str, marker: str = DEFAULT_MARKER) -> tuple[str, str]:
    """Prefix and suffix around the one cursor marker in `text`."""
    count = text.count(marker)
    if count != 1:
        raise CoveError(
            f"the text must contain the cursor marker {marker!r} exactly once (found {count}): "
            "put it where the completion goes, or pass --marker"
        )
    prefix, _, suffix = text.partition(marker)
    return prefix, suffix


def cursor_is_mid_line(suffix: str) -> bool:
    """True when code follows the cursor on its line: then a completion should stay on one line."""
    return bool(suffix.split("\n", 1)[0].strip())
