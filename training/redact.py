"""Secret and personal-data redaction, applied to file text before it reaches a token.

A table of detectors in the spirit of BigCode's PII pipeline: each pattern's match (or its
`value` group, for assignments) is replaced by a placeholder, so the model never sees
the secret and never learns to produce one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Detector:
    name: str
    pattern: re.Pattern[str]
    placeholder: str


def _d(name: str, pattern: str, placeholder: str, flags: int = 0) -> Detector:
    return Detector(name, re.compile(pattern, flags), placeholder)


#: Applied in order: key blocks first, so later detectors never see their inside.
DETECTORS: tuple[Detector, ...] = (
    _d("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", "<KEY>", re.DOTALL),
    _d("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", "<KEY>"),
    _d("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b", "<KEY>"),
    _d("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", "<KEY>"),
    _d("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}\b", "<KEY>"),
    _d("openai_key", r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}", "<KEY>"),
    _d("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b", "<KEY>"),
    _d("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", "<KEY>"),
    _d("url_credentials", r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)", "<PASSWORD>"),
    # name = "value" / name: 'value' where the name ends in a secret's word (not `tokenizer = ...`).
    _d(
        "password_assignment",
        r"""(?P<name>\b[\w.-]*(?:password|passwd|pwd|secret|token|api_?key|access_?key|auth_?key|credentials?)["']?\s*[:=]\s*)(?P<quote>["'])(?P<value>[^"'\n]{4,})(?P=quote)""",
        "<PASSWORD>",
        re.IGNORECASE,
    ),
    _d("email", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b", "<EMAIL>"),
)


def redact(text: str, counts: Counter | None = None) -> str:
    """`text` with every detected secret replaced by its placeholder; `counts` tallies by detector."""
    for detector in DETECTORS:
        if detector.pattern.groupindex.get("value"):
            replace = lambda m, d=detector: f"{m['name']}{m['quote']}{d.placeholder}{m['quote']}"
        else:
            replace = detector.placeholder
        text, n = detector.pattern.subn(replace, text)
        if counts is not None and n:
            counts[detector.name] += n
    return text
