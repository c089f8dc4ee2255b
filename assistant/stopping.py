"""When generated text ends: stop texts, single-line mode, the code after the cursor, loops,
and holding back partial matches.

Pure and model-free, so the rules are unit-tested without llama.cpp. The scanner sees
decoded text as it streams and only releases what can no longer turn out to be the start
of a stop text, of the line the suffix already has, or of a loop (assistant/loops.py), so
a caller never shows text it must later take back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.loops import loop_cut, loop_hold

#: `StopScanner.reason` values besides the stop texts'.
NEWLINE, STOP_TEXT, SUFFIX_LINE, LOOP = "newline", "stop_text", "suffix", "loop"


@dataclass(frozen=True)
class StopRules:
    """Limits of one generation."""

    #: Most tokens to generate.
    max_tokens: int = 128
    #: Wall-clock budget of the generation in seconds, counted from the first token (a slow
    #: prompt does not eat it) and only once the answer's first line is complete (as
    #: llama-server's t_max_predict_ms); None is unlimited.
    time_budget_s: float | None = None
    #: Stop at the first newline (the newline is not part of the output).
    single_line: bool = False
    #: Plain texts that end the output (not part of it), e.g. "\n\n" or a closing fence.
    stop_texts: tuple[str, ...] = field(default=())
    #: Lines that end the output when the model writes one (compared without surrounding
    #: whitespace): the next line of code after the cursor, which a model would otherwise
    #: write again, most of all one that only sees the prefix (left-to-right mode).
    stop_lines: tuple[str, ...] = field(default=())
    #: Stop when the output starts looping: a line, a block of lines or a phrase repeating
    #: back to back (one copy is kept).
    stop_loops: bool = True
    #: End the output before the first token the model gave less than this probability
    #: (stop reason `unsure`): what follows a guess is rarely right, and is not worth the
    #: time to write. 0 keeps every token.
    min_probability: float = 0.0

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be positive, got {self.time_budget_s}")
        if not 0 <= self.min_probability <= 1:
            raise ValueError(f"min_probability must be between 0 and 1, got {self.min_probability}")
        if any(not text for text in self.stop_texts):
            raise ValueError("stop texts must not be empty")


class StopScanner:
    """Feeds streamed text through the stop rules; `feed` returns what may be shown now."""

    def __init__(self, rules: StopRules) -> None:
        self._stops = tuple(rules.stop_texts) + (("\n",) if rules.single_line else ())
        self._single_line = rules.single_line
        self._stop_lines = {line.strip() for line in rules.stop_lines if line.strip()}
        self._loops = rules.stop_loops
        self._text = ""
        self._shown = 0
        #: The stop text found, "" for a stop that is not a text (suffix line, loop).
        self.stopped_by: str | None = None
        #: Why the text ended: NEWLINE, STOP_TEXT, SUFFIX_LINE or LOOP; None while running.
        self.reason: str | None = None

    def feed(self, text: str) -> str:
        """Text safe to emit; after a stop, `stopped_by` and `reason` say which."""
        if self.stopped_by is not None:
            return ""
        self._text += text
        cut = self._find_stop(final=False)
        if cut is not None:
            return self._release(max(cut, self._shown), stopped=True)
        return self._release(max(self._hold(), self._shown))

    def flush(self) -> str:
        """What was held back, once generation ended for another reason (a held line that
        turns out to repeat the suffix or the line before it is dropped)."""
        if self.stopped_by is not None:
            return ""
        cut = self._find_stop(final=True)
        return self._release(len(self._text) if cut is None else max(cut, self._shown), stopped=cut is not None)

    def _release(self, end: int, stopped: bool = False) -> str:
        emit = self._text[self._shown:end]
        self._shown = end
        if stopped:
            self._text = self._text[:end]
        return emit

    def _find_stop(self, final: bool) -> int | None:
        """Where the text must end, setting the reason; None when it goes on."""
        hits: list[tuple[int, str, str]] = []
        for stop in self._stops:
            index = self._text.find(stop, self._shown)
            if index >= 0:
                reason = NEWLINE if stop == "\n" and self._single_line else STOP_TEXT
                hits.append((index, stop, reason))
        text = self._text + "\n" if final else self._text
        if self._stop_lines:
            start = self._text.rfind("\n", 0, self._shown) + 1
            for line_start, line in _complete_lines(text, start):
                if line.strip() in self._stop_lines:
                    hits.append((line_start, "", SUFFIX_LINE))
                    break
        if self._loops and (cut := loop_cut(text)) is not None:
            hits.append((min(cut, len(self._text)), "", LOOP))
        if not hits:
            return None
        index, self.stopped_by, self.reason = min(hits, key=lambda hit: hit[0])
        return index

    def _hold(self) -> int:
        """The start of what may still become a stop; len(text) when nothing is suspect."""
        hold = len(self._text) - self._longest_partial_stop()
        line_start = self._text.rfind("\n") + 1
        partial = self._text[line_start:].lstrip()
        if any(line.startswith(partial) for line in self._stop_lines):
            hold = min(hold, line_start)
        if self._loops:
            hold = min(hold, loop_hold(self._text))
        return hold

    def _longest_partial_stop(self) -> int:
        """Length of the longest tail of the text that starts some stop text."""
        best = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(self._text) - self._shown), best, -1):
                if self._text.endswith(stop[:length]):
                    best = length
                    break
        return best


def _complete_lines(text: str, start: int) -> list[tuple[int, str]]:
    """(start, line) of every newline-terminated line of `text` from index `start` on."""
    lines = []
    while (end := text.find("\n", start)) >= 0:
        lines.append((start, text[start:end]))
        start = end + 1
    return lines
