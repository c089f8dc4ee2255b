"""The training objectives of CodeGen2: causal LM mixed with within-file infilling.

Every example is a list of `assistant.fim.Piece`s, built from one file. Infill examples
use the same sentinels and the same `FimFormat.layout` as inference prompts, so what the
model is trained on is exactly what the editor will ask of it:

- causal:  file <|endoftext|>
- span:    CodeGen2 span corruption: the file with span k replaced by `<mask_k>`,
           `<|endoftext|> <sep>`, then `<mask_k> span <eom>` per span (spans stay inside the file)
- psm/spm: FIM (Bavarian et al. 2022) with a character-level random middle, middle ended by
           the family's end token or `<|endoftext|>`

Every example ends with `<|endoftext|>`, which separates documents once they are packed.
Standard library only (the config validates mixtures against `Objective`).
"""

from __future__ import annotations

import enum
import random
from typing import Container, Mapping

from assistant.errors import CoveError
from assistant.fim import END_OF_TEXT, FAMILIES, CodeGen2, FimFormat, FimTokens, Order, Piece


class Objective(enum.Enum):
    CAUSAL = "causal"
    SPAN = "span"
    PSM = "psm"
    SPM = "spm"


def fim_tokens_for(vocab: Container[str]) -> FimTokens | None:
    """The first FIM family whose three sentinels are all whole tokens of the vocabulary."""
    for family in FAMILIES:
        if all(t in vocab for t in (family.prefix, family.suffix, family.middle)):
            return family
    return None


#: Special tokens each objective needs, beyond those of the FIM family and an end of document.
_NEEDS: dict[Objective, tuple[str, ...]] = {
    Objective.CAUSAL: (),
    Objective.SPAN: (END_OF_TEXT, CodeGen2.SEP, CodeGen2.EOM, CodeGen2.mask(1)),
    Objective.PSM: (),
    Objective.SPM: (),
}
#: Spellings of the token that ends a document, in the order they are looked for: the
#: project's (GPT-2's) first, then LLaMA's, Gemma's and Llama 3's.
END_OF_DOCUMENT = (END_OF_TEXT, "</s>", "<eos>", "<|end_of_text|>")


def end_of_document(vocab: Container[str]) -> str | None:
    """The vocabulary's end-of-document token (END_OF_DOCUMENT), None when it has none."""
    return next((t for t in END_OF_DOCUMENT if t in vocab), None)


def _missing(objective: Objective, vocab: Container[str]) -> list[str]:
    missing = [t for t in _NEEDS[objective] if t not in vocab]
    if end_of_document(vocab) is None:
        missing.append(" or ".join(END_OF_DOCUMENT))
    if objective in (Objective.PSM, Objective.SPM) and fim_tokens_for(vocab) is None:
        missing.append("FIM prefix/suffix/middle tokens")
    return missing


def supported_shares(shares: Mapping[str, float], vocab: Container[str]) -> dict[str, float]:
    """`shares` without the objectives the vocabulary cannot express (a base model without
    FIM or CodeGen2 tokens, such as Gemma 3, is fine-tuned causally); {} when none is left."""
    return {name: share for name, share in shares.items() if not _missing(Objective(name), vocab)}


class Mixture:
    """Chooses an objective per file and lays the file out in it."""

    def __init__(self, shares: Mapping[str, float], vocab: Container[str], max_spans: int = 3, with_path: bool = True,
                 line_share: float = 0.0) -> None:
        self.objectives = [o for o in Objective if shares.get(o.value, 0) > 0]
        self.weights = [shares[o.value] for o in self.objectives]
        self.max_spans = max(1, min(max_spans, CodeGen2.MAX_SPANS))
        self.with_path = with_path
        self.line_share = line_share
        tokens = fim_tokens_for(vocab)
        for objective in self.objectives:
            missing = _missing(objective, vocab)
            if missing:
                raise CoveError(
                    f"the tokenizer lacks {', '.join(missing)} needed by the {objective.value!r} objective: "
                    f"use a tokenizer with the project's special tokens or set its mixture share to 0"
                )
        self.formats = {Objective.PSM: FimFormat(Order.PSM, tokens), Objective.SPM: FimFormat(Order.SPM, tokens)} if tokens else {}
        self.end = end_of_document(vocab) or END_OF_TEXT

    def choose(self, rng: random.Random) -> Objective:
        return rng.choices(self.objectives, self.weights)[0]

    def example(self, objective: Objective, text: str, path: str, rng: random.Random) -> list[Piece]:
        if objective is Objective.CAUSAL:
            return causal(text, self.end)
        if objective is Objective.SPAN:
            return span_corruption(text, rng, self.max_spans)
        return fim(text, rng, self.formats[objective], path if self.with_path else None, self.line_share, self.end)


def causal(text: str, document_end: str = END_OF_TEXT) -> list[Piece]:
    return [Piece(text), Piece(document_end, True)]


def fim(text: str, rng: random.Random, fmt: FimFormat, path: str | None = None, line_share: float = 0.0,
        document_end: str = END_OF_TEXT) -> list[Piece]:
    """FIM with two uniform cut points: for a `line_share` of examples the middle is whole
    lines, else it is cut at any character. Character cuts alone teach a small model that a
    prefix ending in a bare newline was cut mid-word, so it starts a masked line mid-word."""
    if line_share and rng.random() < line_share:
        start, end = _whole_lines(text, rng)
    else:
        start, end = sorted(rng.randint(0, len(text)) for _ in range(2))
    prefix, middle, suffix = text[:start], text[start:end], text[end:]
    end_of_middle = [Piece(fmt.tokens.end, True)] if fmt.tokens.end else []
    pieces = fmt.layout(prefix, suffix, path=path) + [Piece(middle), *end_of_middle, Piece(document_end, True)]
    return [p for p in pieces if p.text]


def _whole_lines(text: str, rng: random.Random) -> tuple[int, int]:
    """Offsets of a middle from the start of one line to the end of the same or a later
    line, the newline that ends it left to the suffix (as HumanEval masks a line)."""
    starts = [0, *(i + 1 for i, char in enumerate(text) if char == "\n" and i + 1 < len(text))]
    first, last = sorted(rng.randrange(len(starts)) for _ in range(2))
    end = text.find("\n", starts[last])
    return starts[first], len(text) if end < 0 else end


def span_corruption(text: str, rng: random.Random, max_spans: int) -> list[Piece]:
    """CodeGen2 span corruption with 1..max_spans non-empty character spans of one file."""
    count = min(rng.randint(1, max_spans), len(text) // 2)
    if count == 0:
        return causal(text)
    cuts = sorted(rng.sample(range(len(text) + 1), 2 * count))
    spans = list(zip(cuts[0::2], cuts[1::2]))
    masked: list[Piece] = []
    answers: list[Piece] = []
    last = 0
    for k, (start, end) in enumerate(spans, 1):
        mask = Piece(CodeGen2.mask(k), True)
        masked += [Piece(text[last:start]), mask]
        answers += [mask, Piece(text[start:end]), Piece(CodeGen2.EOM, True)]
        last = end
    masked += [Piece(text[last:]), Piece(END_OF_TEXT, True), Piece(CodeGen2.SEP, True)]
    return [p for p in masked + answers + [Piece(END_OF_TEXT, True)] if p.text]
