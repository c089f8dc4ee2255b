"""Proof that a GGUF matches its transformers source: same tokens, close logits.

Tokenization is compared on real files with special tokens disabled on both sides, as
the editor tokenizes user text, and must be identical: with transformers' tokenizer, or,
for a folder dequantized from a GGUF, with that GGUF's own vocabulary in llama.cpp
(transformers' reading of a GGUF vocabulary is only close: Gemma 3's differs from
llama.cpp's somewhere in 13 of 40 standard-library files). For transformers that takes
`split_special_tokens=True`: `add_special_tokens=False` alone still turns a literal
`<sep>` in a file (a regex group name, say) into the control token. Logits are compared on one token
sequence evaluated by both models, with llama.cpp's KV cache in f32 so that only the
weights' type separates them; the thresholds depend on that type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import gguf
import numpy as np

from assistant.errors import CoveError
from assistant.gguf_file import gguf_architecture, gguf_header
from convert.checkpoint import Checkpoint
from convert import GGUF_VOCAB
from convert.tokenizer import load_transformers_tokenizer

FT = gguf.LlamaFileType
#: File suffixes read as sample source files when a folder is given.
SAMPLE_SUFFIXES = frozenset({".py", ".pyi", ".c", ".h", ".cpp", ".rs", ".go", ".js", ".ts", ".java",
                             ".md", ".rst", ".txt", ".toml", ".json", ".yaml", ".yml", ".sh", ".html", ".css"})
#: Larger files add time, not evidence.
MAX_SAMPLE_BYTES = 64 * 1024
GGML_TYPE_F32 = 0


@dataclass(frozen=True)
class Thresholds:
    """What a GGUF of one weight type must reach; max_abs None: reported, not judged."""

    #: Largest |logit difference| for logits within +-LOGIT_SCALE. It grows in proportion
    #: beyond that: f16 and bf16 keep relative precision, and a trained model's logits
    #: are several times larger than a random one's.
    max_abs: float | None
    top1: float

    def limit(self, scale: float) -> float | None:
        """The max |diff| allowed where the checkpoint's largest |logit| is `scale`."""
        return None if self.max_abs is None else self.max_abs * max(1.0, scale / LOGIT_SCALE)


#: Logit magnitude up to which `Thresholds.max_abs` applies as it stands.
LOGIT_SCALE = 10.0


#: general.file_type -> thresholds. f32 must be exact to float rounding; f16 keeps about
#: three significant digits. Quantized types are judged only on the token they would
#: pick, loosely: this catches a broken file, it does not measure quality (perplexity does).
#: On a tiny random model, whose top logits nearly tie, Q8_0 agrees on about 95% of
#: positions and Q4_K_M on about 75%.
THRESHOLDS: dict[int, Thresholds] = {
    FT.ALL_F32: Thresholds(1e-4, 0.99),
    FT.MOSTLY_F16: Thresholds(1e-2, 0.99),
    FT.MOSTLY_BF16: Thresholds(5e-2, 0.98),
    FT.MOSTLY_Q8_0: Thresholds(None, 0.90),
}
QUANTIZED = Thresholds(None, 0.50)
#: What a family whose MLP is GELU (Gemma 3, StarCoder2) is allowed on top of its weight
#: type's max |diff| (scaled with the logits as that is): llama.cpp takes GELU from a table
#: of f16 values, which alone puts a tiny random f32 model 1-2e-3 from transformers
#: (emulating the table in transformers brings the first position, which attends only to
#: itself, from 1.8e-3 to 6e-6), and Gemma 3 270M fine-tuned, as f16, 5.6e-2 from it at
#: logits up to 45 (top-1 100%).
GELU_MAX_ABS = 1e-2


def thresholds_for(file_type: int, architecture: str) -> Thresholds:
    """What a GGUF of `file_type` and `architecture` must reach."""
    from convert.tensor_map import FAMILIES

    thresholds = THRESHOLDS.get(file_type, QUANTIZED)
    gelu = any(f.gelu and f.arch_name == architecture for f in FAMILIES)
    if gelu and thresholds.max_abs is not None:
        return Thresholds(thresholds.max_abs + GELU_MAX_ABS, thresholds.top1)
    return thresholds


@dataclass
class TokenReport:
    files: int = 0
    tokens: int = 0
    #: (file, index of the first differing token) for every file that differs
    mismatches: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class LogitsReport:
    tokens: int
    max_abs: float
    top1: float
    #: The checkpoint's largest |logit|: what the max |diff| is judged against.
    scale: float


@dataclass(frozen=True)
class Verdict:
    tokens: TokenReport
    logits: LogitsReport
    thresholds: Thresholds
    file_type: str

    @property
    def passed(self) -> bool:
        t = self.thresholds
        return (
            not self.tokens.mismatches
            and (t.max_abs is None or self.logits.max_abs <= t.limit(self.logits.scale))
            and self.logits.top1 >= t.top1
        )

    def lines(self) -> list[str]:
        t = self.thresholds
        limit = (f"threshold {t.limit(self.logits.scale):.2e} for logits up to {self.logits.scale:.1f}"
                 if t.max_abs is not None else "not judged for quantized types")
        lines = [
            f"tokens: {self.tokens.files} files, {self.tokens.tokens:,} tokens, identical in "
            f"{self.tokens.files - len(self.tokens.mismatches)}/{self.tokens.files} files",
            *(f"  differs: {name} from token {index}" for name, index in self.tokens.mismatches[:5]),
            f"logits: {self.logits.tokens} tokens, max |diff| {self.logits.max_abs:.2e} ({limit}), "
            f"top-1 agreement {self.logits.top1:.1%} (threshold {t.top1:.0%})",
            f"verdict: {'PASS' if self.passed else 'FAIL'} (thresholds for {self.file_type})",
        ]
        return lines


def sample_files(paths: Iterable[Path], limit: int) -> dict[str, str]:
    """Up to `limit` readable UTF-8 text files from files and folders, in a stable order."""
    found: dict[str, str] = {}
    for path in paths:
        if not path.exists():
            raise CoveError(f"sample path {path} does not exist: give source files or folders to compare on")
        candidates = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.suffix in SAMPLE_SUFFIXES and p.is_file()
        )
        for file in candidates:
            if len(found) >= limit:
                return found
            if file.stat().st_size > MAX_SAMPLE_BYTES:
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if text:
                found[str(file)] = text
    return found


def compare_tokens(reference, llama, texts: dict[str, str]) -> TokenReport:
    """Tokenize every text with both, special tokens disabled; record where they differ.
    `reference` is a transformers tokenizer, or a llama-cpp-python model (the vocabulary
    of a GGUF base, which a model fine-tuned from it must reproduce)."""
    import llama_cpp

    report = TokenReport()
    for name, text in texts.items():
        expected = _llama_ids(reference, text) if isinstance(reference, llama_cpp.Llama) \
            else reference(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        actual = _llama_ids(llama, text)
        report.files += 1
        report.tokens += len(expected)
        if expected != actual:
            first = next((i for i, (a, b) in enumerate(zip(expected, actual)) if a != b), min(len(expected), len(actual)))
            report.mismatches.append((name, first))
    return report


def _llama_ids(llama, text: str) -> list[int]:
    return llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)


def logits_ids(hf_tokenizer, texts: Iterable[str], count: int) -> list[int]:
    """The first `count` tokens of the texts as the model reads a document (bos added when
    the tokenizer adds one), taking only as many texts as needed."""
    ids: list[int] = hf_tokenizer("", add_special_tokens=True)["input_ids"]
    for text in texts:
        ids += hf_tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        if len(ids) >= count:
            break
    return ids[:count]


def logits_of_llama(llama, ids: list[int]) -> np.ndarray:
    """llama.cpp's logits for every position of `ids` (the model needs logits_all=True)."""
    llama.reset()
    llama.eval(ids)
    return np.array(llama.scores[: len(ids)], dtype=np.float32)


def nll_of_llama(llama, ids: list[int], start: int = 1) -> float:
    """Summed negative log-likelihood (nats) of ids[start:], each given the ids before it,
    from llama.cpp's logits in float64 (perplexity, or the loss of an infill's middle)."""
    logits = logits_of_llama(llama, ids)[start - 1:-1].astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(ids) - start), ids[start:]].sum())


def logits_of_transformers(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def compare_logits(expected: np.ndarray, actual: np.ndarray) -> LogitsReport:
    if expected.shape != actual.shape:
        raise CoveError(
            f"the GGUF has a vocabulary of {actual.shape[-1]} and the checkpoint {expected.shape[-1]}: "
            "the GGUF was not converted from this checkpoint"
        )
    return LogitsReport(
        tokens=len(expected),
        max_abs=float(np.abs(expected - actual).max()),
        top1=float((expected.argmax(-1) == actual.argmax(-1)).mean()),
        scale=float(np.abs(expected).max()),
    )


def load_llama(path: Path, n_ctx: int, lora: Path | None = None, vocab_only: bool = False):
    """A llama-cpp-python model that keeps every position's logits and an f32 KV cache
    (only the vocabulary with `vocab_only`, e.g. of a GGUF without tensors)."""
    import llama_cpp

    if not path.is_file():
        raise CoveError(f"{path} does not exist: give the GGUF written by `cove convert`")
    try:
        return llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, seed=0,
            type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32, lora_path=str(lora) if lora else None,
            vocab_only=vocab_only,
        )
    except (ValueError, RuntimeError) as error:
        raise CoveError(f"llama.cpp cannot load {path} ({error}): convert it again") from None


def file_type_of(path: Path) -> int:
    return int(gguf_header(path).get(gguf.Keys.General.FILE_TYPE, int(FT.GUESSED)))


def verify(source: Path, model_path: Path, samples: dict[str, str], logits_tokens: int = 256) -> Verdict:
    """Compare the GGUF at `model_path` with the transformers checkpoint in `source`."""
    import torch
    from transformers import AutoModelForCausalLM

    if not samples:
        raise CoveError("no readable sample files to compare tokenization on: give source files or folders")
    Checkpoint.open(source)  # a folder that is not a checkpoint fails here, in one line
    tokenizer = load_transformers_tokenizer(source)
    llama = load_llama(model_path, n_ctx=max(logits_tokens, 64))
    kept = source / GGUF_VOCAB  # a folder dequantized from a GGUF: its tokens are the reference
    reference = load_llama(kept, n_ctx=64, vocab_only=True) if kept.is_file() else tokenizer
    tokens = compare_tokens(reference, llama, samples)
    if reference is not tokenizer:
        reference.close()
    ids = logits_ids(tokenizer, samples.values(), logits_tokens)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    logits = compare_logits(logits_of_transformers(model, ids), logits_of_llama(llama, ids))
    llama.close()
    kind = file_type_of(model_path)
    name = FT(kind).name if kind in FT._value2member_map_ else str(kind)
    architecture = gguf_architecture(model_path)
    return Verdict(tokens, logits, thresholds_for(kind, architecture), name)
