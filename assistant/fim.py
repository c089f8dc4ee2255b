"""Fill-in-the-middle prompt formats, shared by inference (assistant/, lsp/) and training.

Standard library only: the tokenizer trainer, the training objectives and the editor path
all import these spellings, so every sentinel is spelled once, here.

A format lays a prompt out as a list of `Piece`s. Pieces marked `special` are control
tokens, looked up by their exact text; every other piece is user text and is tokenized
with special tokens *disabled*, so a file that contains `<fim_prefix>` or
`<|endoftext|>` cannot inject control tokens (a known failure of string-built prompts).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Sequence

END_OF_TEXT = "<|endoftext|>"


@dataclass(frozen=True)
class FimTokens:
    """One model family's spelling of the FIM sentinels (Bavarian et al. 2022 layout)."""

    family: str
    prefix: str
    suffix: str
    middle: str
    #: Token that ends the middle, when the family has one besides end-of-text.
    end: str | None = None
    pad: str | None = None
    #: Repository-level context (StarCoder, Qwen2.5-Coder): `<repo_name>name<file_sep>path\ntext`.
    repo: str | None = None
    file_sep: str | None = None


STARCODER = FimTokens(
    "starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
    pad="<fim_pad>", repo="<repo_name>", file_sep="<file_sep>",
)
QWEN = FimTokens(
    "qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
    pad="<|fim_pad|>", repo="<|repo_name|>", file_sep="<|file_sep|>",
)
CODELLAMA = FimTokens("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", end="▁<EOT>")
DEEPSEEK = FimTokens("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")

#: Families in the order detection tries them.
FAMILIES: tuple[FimTokens, ...] = (STARCODER, QWEN, CODELLAMA, DEEPSEEK)


class CodeGen2:
    """CodeGen2 span-corruption sentinels (Nijkamp et al. 2023).

    Training: the file with span k replaced by `<mask_k>`, then `<sep>`, then for each
    span `<mask_k>` + span + `<eom>`. Inference: `prefix <mask_1> suffix <|endoftext|>
    <sep> <mask_1>`, and the model writes the middle, ending it with `<eom>`.
    """

    SEP = "<sep>"
    EOM = "<eom>"
    #: How many distinct mask sentinels the project's tokenizer carries.
    MAX_SPANS = 16

    @staticmethod
    def mask(k: int) -> str:
        if not 1 <= k <= CodeGen2.MAX_SPANS:
            raise ValueError(f"mask index {k} is outside 1..{CodeGen2.MAX_SPANS}")
        return f"<mask_{k}>"


#: Special tokens of tokenizers trained by this project: StarCoder-spelled FIM and
#: repository tokens (so llama.cpp's own /infill finds them by text) plus CodeGen2's.
PROJECT_SPECIAL_TOKENS: tuple[str, ...] = (
    END_OF_TEXT,
    STARCODER.prefix, STARCODER.middle, STARCODER.suffix, STARCODER.pad,
    STARCODER.repo, STARCODER.file_sep,
    CodeGen2.SEP, CodeGen2.EOM,
    *(CodeGen2.mask(k) for k in range(1, CodeGen2.MAX_SPANS + 1)),
)


#: Editor request kinds: a line being typed (text before the cursor on its line) and a
#: fresh line (only indentation before the cursor). Models answer them best in different
#: modes, so a model can carry its measured best mode per kind (lsp/line_eval.py).
MID_LINE, FRESH_LINE = "mid-line", "fresh-line"
#: Request kind -> the GGUF metadata key holding the best mode for it.
MODE_KEYS = {MID_LINE: "cove.infill.mode.mid_line", FRESH_LINE: "cove.infill.mode.fresh_line"}
#: GGUF metadata key of the confidence gate measured for the model (lsp/line_eval.py).
GATE_KEY = "cove.infill.min_confidence"


def request_kind(prefix: str) -> str:
    """MID_LINE when the cursor's line has text before it, else FRESH_LINE."""
    return MID_LINE if prefix[prefix.rfind("\n") + 1:].strip() else FRESH_LINE


class Order(enum.Enum):
    """How prefix, suffix and middle are ordered in the prompt."""

    PSM = "psm"  #: <PRE> prefix <SUF> suffix <MID> middle
    SPM = "spm"  #: <PRE><SUF> suffix <MID> prefix middle
    CODEGEN2 = "codegen2"  #: prefix <mask_1> suffix <eot> <sep> <mask_1> middle <eom>
    TEMPLATE = "template"  #: a user-given template with {prefix} and {suffix}
    #: prefix middle: no sentinels, for models without FIM tokens (Gemma, Llama 3, Phi, most
    #: general models); the suffix is used after generation (stop lines, overlap trimming).
    LEFT_TO_RIGHT = "ltr"


@dataclass(frozen=True)
class Piece:
    """A run of prompt text; `special` pieces are control tokens, the rest user text."""

    text: str
    special: bool = False


@dataclass(frozen=True)
class ContextChunk:
    """Text from another file, placed before the infill so it stays in the KV cache."""

    path: str
    text: str


_FIELD = re.compile(r"\{(prefix|suffix)\}")


@dataclass(frozen=True)
class FimFormat:
    """A complete infill prompt format: the order, the sentinels and where output ends."""

    order: Order
    tokens: FimTokens | None = None
    #: For Order.TEMPLATE: text with `{prefix}` and `{suffix}`; the literal parts are
    #: tokenized with special tokens enabled.
    template: str | None = None
    #: Texts that end the middle (besides the model's end-of-generation tokens).
    stop: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.order is Order.TEMPLATE:
            if not self.template or set(_FIELD.findall(self.template)) != {"prefix", "suffix"}:
                raise ValueError(
                    "an infill template must contain {prefix} and {suffix} exactly once each, "
                    "e.g. '<PRE> {prefix} <SUF>{suffix} <MID>'"
                )
        elif self.order in (Order.PSM, Order.SPM) and self.tokens is None:
            raise ValueError(f"{self.order.value} needs FIM sentinel tokens")

    @property
    def name(self) -> str:
        if self.order is Order.TEMPLATE:
            return "template"
        if self.order is Order.LEFT_TO_RIGHT:
            return "left-to-right"
        if self.tokens is None:
            return self.order.value
        return f"{self.order.value}:{self.tokens.family}"

    @property
    def sees_suffix(self) -> bool:
        """Whether the prompt holds the code after the cursor (left to right, it does not)."""
        return self.order is not Order.LEFT_TO_RIGHT

    def stop_texts(self) -> tuple[str, ...]:
        """Control texts that end generation of the middle."""
        if self.order is Order.CODEGEN2:
            return (CodeGen2.EOM, END_OF_TEXT, *self.stop)
        ends = [self.tokens.end] if self.tokens and self.tokens.end else []
        return (*ends, END_OF_TEXT, *self.stop)

    def layout(
        self,
        prefix: str,
        suffix: str,
        *,
        extra: Sequence[ContextChunk] = (),
        path: str | None = None,
        repo: str | None = None,
    ) -> list[Piece]:
        """The prompt as pieces; the model's answer is the middle that follows."""
        pieces = self._context(extra, path, repo)
        if self.order is Order.PSM:
            t = self.tokens
            pieces += [Piece(t.prefix, True), Piece(prefix), Piece(t.suffix, True), Piece(suffix), Piece(t.middle, True)]
        elif self.order is Order.SPM:
            t = self.tokens
            pieces += [Piece(t.prefix, True), Piece(t.suffix, True), Piece(suffix), Piece(t.middle, True), Piece(prefix)]
        elif self.order is Order.CODEGEN2:
            mask = CodeGen2.mask(1)
            pieces += [
                Piece(prefix), Piece(mask, True), Piece(suffix),
                Piece(END_OF_TEXT, True), Piece(CodeGen2.SEP, True), Piece(mask, True),
            ]
        elif self.order is Order.LEFT_TO_RIGHT:
            pieces.append(Piece(prefix))
        else:
            pieces += _template_pieces(self.template, prefix, suffix)
        return [p for p in pieces if p.text]

    def _context(self, extra: Sequence[ContextChunk], path: str | None, repo: str | None) -> list[Piece]:
        """Repository-level context: sentinel-separated where the family has file
        separators, otherwise as plain text (which then reads as part of the prefix)."""
        t = self.tokens
        if t is not None and t.file_sep:
            if not extra and path is None:
                return []
            pieces = [Piece(t.repo, True), Piece(f"{repo or 'workspace'}\n")] if t.repo else []
            for chunk in extra:
                pieces += [Piece(t.file_sep, True), Piece(f"{chunk.path}\n{chunk.text}\n")]
            if path is not None:
                pieces += [Piece(t.file_sep, True), Piece(f"{path}\n")]
            return pieces
        return [Piece(f"{chunk.text}\n") for chunk in extra]


def _template_pieces(template: str, prefix: str, suffix: str) -> list[Piece]:
    values = {"prefix": prefix, "suffix": suffix}
    pieces: list[Piece] = []
    last = 0
    for match in _FIELD.finditer(template):
        pieces.append(Piece(template[last:match.start()], True))
        pieces.append(Piece(values[match.group(1)]))
        last = match.end()
    pieces.append(Piece(template[last:], True))
    return pieces


def parse_format(spec: str) -> FimFormat:
    """A format from its command-line / settings spelling.

    `psm:starcoder`, `spm:qwen`, `codegen2`, `ltr` (left to right, also spelled
    `left-to-right`), or a template containing `{prefix}` and `{suffix}`. `auto` is
    resolved by the engine, which knows the model's vocabulary.
    """
    if "{prefix}" in spec or "{suffix}" in spec:
        return FimFormat(Order.TEMPLATE, template=spec)
    if spec in ("ltr", "left-to-right"):
        return FimFormat(Order.LEFT_TO_RIGHT)
    order_name, _, family_name = spec.partition(":")
    try:
        order = Order(order_name)
    except ValueError:
        raise ValueError(
            f"unknown infill format {spec!r}: use auto, codegen2, ltr, psm:FAMILY, spm:FAMILY "
            f"(families: {', '.join(f.family for f in FAMILIES)}) or a template with {{prefix}} and {{suffix}}"
        ) from None
    if order is Order.CODEGEN2:
        return FimFormat(order)
    families = {f.family: f for f in FAMILIES}
    if family_name not in families:
        raise ValueError(
            f"infill format {spec!r} needs a family: {', '.join(f'{order.value}:{name}' for name in families)}"
        )
    return FimFormat(order, families[family_name])
