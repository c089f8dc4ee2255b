"""Names the code around never mentions: where a small model invents.

On code it never saw, a small model's commonest wrong completion calls something that
does not exist (`self.__node_trail` for `self.__node_trail[-1]`, `sorted(x)` where the
list is `ints`). Right completions mostly reuse names the document, the files the prompt
borrows from, or the language already has (lsp/language_names.py). So a name none of
them mentions is shown only when the model was sure of every token that wrote it
(Settings.min_confidence_new_name); otherwise the completion ends before that name, as
the gate ends it before an unsure token (measured in docs/BENCHMARKS.md,
`benchmarks/line_completion.py`).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Sequence

from assistant.confidence import unsure
from lsp.language_names import LANGUAGE_NAMES

#: An identifier, not one inside a number (`1e5`) or another word.
IDENTIFIER = re.compile(r"(?<!\w)[A-Za-z_]\w*")
#: The word the cursor is in, as far as it is typed.
TYPED_WORD = re.compile(r"\w*$")


def names_floor(gate: float, setting: float) -> float:
    """The floor for made-up names in force beside the token gate `gate`: the setting, and
    none when the gate is off (a gate of 0 shows everything the model writes)."""
    return setting if gate > 0 else 0.0


def mentioned(name: str, texts: Sequence[str]) -> bool:
    """Whether `name` occurs as a whole word in any of `texts` (a plain substring test first:
    most names asked about occur nowhere, and it is many times faster on a large file)."""
    pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
    return any(name in text and pattern.search(text) for text in texts)


def cut_new_names(completion: str, tokens: Sequence[tuple[int, float]], line_prefix: str,
                  texts: Sequence[str], floor: float, path: str = "") -> str:
    """`completion` cut before the first name it writes that no text in `texts` (the
    document, other files) mentions, the language does not have, and that the model gave
    some token of less than `floor` probability; whole when there is none.

    `tokens` are the (characters shown, log-probability) of the tokens that wrote
    `completion`, in order (assistant.confidence.shown). A name the cursor is inside
    (`targe|`) is judged whole, with the typed part; cut there, nothing is shown.
    """
    if floor <= 0 or not completion:
        return completion
    typed = TYPED_WORD.search(line_prefix).group()
    known = LANGUAGE_NAMES.get(PurePath(path).suffix.lower(), frozenset())
    for match in IDENTIFIER.finditer(typed + completion):
        start, end = match.start() - len(typed), match.end() - len(typed)
        if end <= 0 or match.group() in known:
            continue
        if _any_unsure(tokens, max(start, 0), end, floor) and not mentioned(match.group(), texts):
            return completion[:max(start, 0)]
    return completion


def _any_unsure(tokens: Sequence[tuple[int, float]], start: int, end: int, floor: float) -> bool:
    """Whether a token that wrote characters `start` to `end` of the completion is below
    `floor` (a token that wrote only the typed part, kept at position 0, counts there)."""
    position = 0
    for length, logprob in tokens:
        if position >= end:
            break
        if max(position + length, position + 1) > start and unsure(logprob, floor):
            return True
        position += length
    return False
