"""How the next token is picked: greedy for infill, sampled for base-model chat.

One frozen dataclass so the engine, chat and the status bar agree on the names, and
llama-cpp-python's keyword spelling lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sampling:
    """Sampler settings of one generation; the defaults are greedy decoding."""

    #: 0 is greedy (the most likely token every time): infill and code completion.
    temperature: float = 0.0
    #: Nucleus sampling: keep the most likely tokens that together hold this probability.
    top_p: float = 1.0
    #: Keep at most this many candidates before top-p (0 keeps all).
    top_k: int = 40
    #: Drop candidates less likely than this share of the best one.
    min_p: float = 0.05
    #: Above 1 makes tokens of the last `repeat_last_n` less likely: base models loop without it.
    repeat_penalty: float = 1.0
    #: How many recent tokens the repeat penalty looks at.
    repeat_last_n: int = 64

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature {self.temperature} must be 0 or more")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p} must be in (0, 1]")
        if self.repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty {self.repeat_penalty} must be positive (1 turns it off)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def llama_kwargs(self) -> dict[str, float | int]:
        """The keyword arguments of `Llama.generate` for these settings."""
        if self.greedy:
            return dict(temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=self.repeat_penalty)
        return dict(temp=self.temperature, top_k=self.top_k, top_p=self.top_p, min_p=self.min_p,
                    repeat_penalty=self.repeat_penalty)

    def label(self) -> str:
        """Short form for a status bar: `greedy` or `t 0.7 · p 0.95 · rep 1.1`."""
        if self.greedy:
            return "greedy" + (f" · rep {self.repeat_penalty:g}" if self.repeat_penalty != 1 else "")
        return f"t {self.temperature:g} · p {self.top_p:g} · rep {self.repeat_penalty:g}"


#: Greedy decoding: what infill and `cove complete` use.
GREEDY = Sampling()
#: Base models continuing code in chat's completion mode: greedy decoding of a base
#: model falls into a loop within a few lines; mild randomness and a repeat penalty don't.
BASE_MODEL_CHAT = Sampling(temperature=0.6, top_p=0.95, repeat_penalty=1.1)
