"""A scripted stand-in for `assistant.engine.Engine` in chat and TUI tests.

It implements the engine contract the chat uses (model_name, n_ctx, chat_template,
tokenize, generate, infill, lock, close) and streams a fixed reply through the real
`Generation` class, so the app sees the same object shape as with llama.cpp. A gate,
when given, holds each piece until the test releases it, which makes streaming and
cancelling observable.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Callable, Iterator

from assistant.generation import Generation, GenerationStats
from assistant.fim import Piece
from assistant.sampling import GREEDY, Sampling
from assistant.stopping import StopRules

REPLY = (
    "Here is a function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "And a command:\n\n```sh\necho done\n```\n"
)
#: The fake's speed: every piece "takes" this long, so tokens/s is deterministic.
MS_PER_PIECE = 10.0
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces, as a tokenizer would stream them."""
    return re.findall(r"\s*\S+|\s+", text)


class FakeEngine:
    def __init__(
        self,
        reply: str = REPLY,
        *,
        chat_template: str | None = CHATML,
        name: str = "fake-coder",
        n_ctx: int = 2048,
        gate: threading.Semaphore | None = None,
    ) -> None:
        self.reply = reply
        self.chat_template = chat_template
        self.model_name = name
        self.model_path = Path(f"/models/{name}.gguf")
        self.n_ctx = n_ctx
        self.gate = gate
        self.lock = threading.Lock()
        self.closed = False
        self.eos_token_id = 0
        #: Every request: ("generate", prompt) or ("infill", prefix, suffix, extra).
        self.requests: list[tuple] = []
        #: The sampler settings of every generate request.
        self.samplings: list[Sampling] = []

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return list(range(len(split_pieces(text))))

    def token_text(self, token: int) -> str:
        return "<|im_end|>"

    def generate(
        self, prompt: str | list[Piece], *, stop: StopRules = StopRules(),
        should_cancel: Callable[[], bool] | None = None, sampling: Sampling = GREEDY,
    ) -> Generation:
        self.requests.append(("generate", prompt))
        self.samplings.append(sampling)
        text = prompt if isinstance(prompt, str) else "".join(p.text for p in prompt)
        return self._generation(len(self.tokenize(text)), stop, should_cancel)

    def infill(
        self, prefix: str, suffix: str, *, stop: StopRules = StopRules(), extra=(), path=None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Generation:
        self.requests.append(("infill", prefix, suffix, tuple(extra)))
        return self._generation(len(self.tokenize(prefix + suffix)), stop, should_cancel)

    def _generation(self, prompt_tokens: int, stop: StopRules, should_cancel) -> Generation:
        stats = GenerationStats(prompt_tokens=prompt_tokens, prompt_ms=5.0)
        return Generation(self._stream(stop, should_cancel or (lambda: False), stats), stats)

    def _stream(self, stop: StopRules, should_cancel: Callable[[], bool], stats: GenerationStats) -> Iterator[str]:
        with self.lock:
            stats.stop_reason = "eog"
            for piece in split_pieces(self.reply):
                if not self._wait_for_gate(should_cancel):
                    stats.stop_reason = "cancelled"
                    break
                stats.generated_tokens += 1
                stats.generation_ms += MS_PER_PIECE
                yield piece
                if should_cancel():
                    stats.stop_reason = "cancelled"
                    break
                if stats.generated_tokens >= stop.max_tokens:
                    stats.stop_reason = "max_tokens"
                    break
            stats.total_ms = stats.prompt_ms + stats.generation_ms

    def _wait_for_gate(self, should_cancel: Callable[[], bool]) -> bool:
        """Block until the test releases a piece; False when cancelled meanwhile."""
        if self.gate is None:
            return True
        while not self.gate.acquire(timeout=0.01):
            if should_cancel():
                return False
        return True

    def close(self) -> None:
        self.closed = True
