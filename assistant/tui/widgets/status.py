"""The status bar: which model, which mode and sampling, how full the context is, how fast it ran."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static


@dataclass(frozen=True)
class Status:
    """Everything the status bar shows; the screen builds one after each change."""

    model: str
    mode_label: str
    #: How replies in this mode are sampled (`Sampling.label()`).
    sampling: str
    #: Tokens of the last request (prompt plus reply), or of the attachments before any.
    context_used: int
    context_total: int
    #: Generation speed of the last reply; None before the first.
    tokens_per_second: float | None = None
    attachments: int = 0
    attachment_tokens: int = 0
    #: A transient note, e.g. "loading model…" or "generating…".
    activity: str = ""


class StatusBar(Static):
    """One line at the bottom of the chat."""

    def show(self, status: Status) -> None:
        parts = [status.model, status.mode_label, status.sampling, f"ctx {status.context_used}/{status.context_total}"]
        if status.tokens_per_second is not None:
            parts.append(f"{status.tokens_per_second:.1f} tok/s")
        if status.attachments:
            parts.append(f"{status.attachments} file(s) attached, {status.attachment_tokens} tokens")
        if status.activity:
            parts.append(status.activity)
        self.update(Content(" │ ".join(parts)))
