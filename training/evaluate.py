"""What a model has learned: held-out loss, bits per byte and infill exact match.

Loss and bits per byte are measured on whole held-out files (causal, every token),
so they compare across tokenizers: bits per byte = summed nats / ln 2 / UTF-8 bytes.
Infill tasks mask one line (single-line) or a block of 2-4 lines (multi-line) of a
held-out file and ask the model for it through the same `FimFormat.layout` the editor
uses; exact match compares the answer with the masked text, whitespace-trimmed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from assistant.errors import CoveError
from assistant.fim import END_OF_TEXT, CodeGen2, FimFormat, Order, Piece
from training.objectives import fim_tokens_for
from training.tokenizer import encode_pieces, load_tokenizer


@dataclass
class LoadedModel:
    """A transformers causal LM with the `tokenizers.Tokenizer` that goes with it."""

    model: object
    tokenizer: object
    device: object

    @property
    def context(self) -> int:
        return int(self.model.config.max_position_embeddings)


def load_model(source: Path, adapter: Path | None = None, device: str = "auto") -> LoadedModel:
    """A checkpoint folder or GGUF file (dequantized by transformers), plus an optional LoRA adapter."""
    import torch
    from transformers import AutoModelForCausalLM

    if source.suffix == ".gguf" and source.is_file():
        model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    elif (source / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32)
    else:
        raise CoveError(f"{source} is neither a transformers checkpoint folder nor a .gguf file: pass one of those")
    if adapter is not None:
        from peft import PeftModel

        if not (adapter / "adapter_config.json").is_file():
            raise CoveError(f"{adapter} holds no LoRA adapter (adapter_config.json): pass the adapter folder of a finetune run")
        model = PeftModel.from_pretrained(model, str(adapter))
    target = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    model.to(target).eval()
    return LoadedModel(model, load_tokenizer(source), target)


def infill_format(vocab) -> FimFormat | None:
    """How to ask this vocabulary for a middle: PSM with its FIM family, else CodeGen2, else not at all."""
    tokens = fim_tokens_for(vocab)
    if tokens is not None:
        return FimFormat(Order.PSM, tokens)
    if all(t in vocab for t in (CodeGen2.mask(1), CodeGen2.SEP, CodeGen2.EOM, END_OF_TEXT)):
        return FimFormat(Order.CODEGEN2)
    return None


def text_loss(lm: LoadedModel, texts: Sequence[str], seq_len: int, max_tokens: int = 200_000) -> tuple[float, float]:
    """(mean nats per token, bits per byte) over whole texts, each ended by end-of-text."""
    import torch
    import torch.nn.functional as F

    eot = lm.tokenizer.token_to_id(END_OF_TEXT)
    stream: list[int] = []
    size = 0
    for text in texts:
        if len(stream) >= max_tokens:
            break
        stream += lm.tokenizer.encode(text, add_special_tokens=False).ids + ([eot] if eot is not None else [])
        size += len(text.encode())
    if len(stream) < 2:
        raise CoveError("no text to measure the loss on: give files with some code in them")
    window = min(seq_len, lm.context)
    nats = 0.0
    predicted = 0
    with torch.no_grad():
        for start in range(0, len(stream) - 1, window):
            chunk = torch.tensor([stream[start:start + window + 1]], device=lm.device)
            logits = lm.model(input_ids=chunk[:, :-1]).logits.float()
            nats += float(F.cross_entropy(logits[0], chunk[0, 1:], reduction="sum"))
            predicted += chunk.size(1) - 1
    return nats / predicted, nats / math.log(2) / size


@dataclass(frozen=True)
class InfillTask:
    path: str
    prefix: str
    expected: str
    suffix: str


def infill_tasks(files: Sequence[tuple[str, str]], count: int, multiline: bool, seed: int = 0) -> list[InfillTask]:
    """`count` tasks cycling over files: a masked non-blank line, or a block of 2-4 lines starting at one."""
    rng = random.Random(seed)
    tasks: list[InfillTask] = []
    candidates = [(path, text.splitlines(keepends=True)) for path, text in files]
    candidates = [(path, lines) for path, lines in candidates if any(line.strip() for line in lines)]
    while candidates and len(tasks) < count:
        for path, lines in candidates:
            starts = [i for i, line in enumerate(lines) if line.strip()]
            first = rng.choice(starts)
            last = min(len(lines), first + (rng.randint(2, 4) if multiline else 1))
            block = "".join(lines[first:last])
            middle = block.removesuffix("\n")  # the newline ending the block stays in the suffix
            suffix = block[len(middle):] + "".join(lines[last:])
            tasks.append(InfillTask(path, "".join(lines[:first]), middle, suffix))
            if len(tasks) == count:
                break
    return tasks


def generate(lm: LoadedModel, prompt: list[int], max_new_tokens: int, stop_ids: Sequence[int],
             temperature: float = 0.0, seed: int = 0) -> list[int]:
    """New token ids after `prompt` (transformers generate with a KV cache), ending before any stop id."""
    import torch

    budget = max(1, lm.context - max_new_tokens)
    prompt = prompt[-budget:]
    ids = torch.tensor([prompt], device=lm.device)
    torch.manual_seed(seed)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else {"do_sample": False}
    stops = list(stop_ids) or [lm.model.config.eos_token_id]
    with torch.no_grad():
        out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                eos_token_id=stops, pad_token_id=stops[0], **sampling)
    new = out[0, len(prompt):].tolist()
    cut = next((i for i, t in enumerate(new) if t in stops), len(new))
    return new[:cut]


def infill_prompt(lm: LoadedModel, fmt: FimFormat | None, prefix: str, suffix: str, path: str | None,
                  room: int) -> list[int]:
    """Token ids asking for the middle, fitted to the context with `room` tokens left for the
    answer (prefix:suffix kept 3:1). Without a format, the prefix alone after the document
    separator every training file follows: how a left-to-right model fills in."""
    budget = max(8, lm.context - room)
    chars = budget * 4
    while True:
        keep_prefix = chars if fmt is None else chars * 3 // 4
        head = prefix[max(0, len(prefix) - keep_prefix):]
        pieces = [Piece(END_OF_TEXT, True), Piece(head)] if fmt is None else fmt.layout(head, suffix[:chars // 4], path=path)
        prompt = encode_pieces(lm.tokenizer, pieces)
        if len(prompt) <= budget or chars <= 4:
            return prompt
        chars //= 2


def fill(lm: LoadedModel, fmt: FimFormat | None, prefix: str, suffix: str, path: str | None,
         max_new_tokens: int, single_line: bool) -> str:
    """The model's middle for one infill prompt (see `infill_prompt`)."""
    prompt = infill_prompt(lm, fmt, prefix, suffix, path, max_new_tokens)
    stop_texts = fmt.stop_texts() if fmt is not None else (END_OF_TEXT,)
    stops = [i for i in (lm.tokenizer.token_to_id(t) for t in stop_texts) if i is not None]
    text = lm.tokenizer.decode(generate(lm, prompt, max_new_tokens, stops), skip_special_tokens=True)
    return text.split("\n", 1)[0] if single_line else text


def infill_exact_match(lm: LoadedModel, fmt: FimFormat | None, tasks: Sequence[InfillTask], single_line: bool,
                       max_new_tokens: int = 48) -> float:
    """Share of tasks whose fill equals the masked text (leading/trailing whitespace ignored)."""
    if not tasks:
        return float("nan")
    hits = 0
    for task in tasks:
        answer = fill(lm, fmt, task.prefix, task.suffix, task.path, max_new_tokens, single_line)
        hits += answer.strip() == task.expected.strip()
    return hits / len(tasks)


def heldout_files(data: Path | None, repos: Sequence[str], only: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(path, text) to evaluate on: a run's held-out files (those of the `only` source folders,
    when given), or every kept file of repositories."""
    if data is not None:
        from training.data import read_val_files

        if not (data / "manifest.json").is_file():
            raise CoveError(f"{data} is not a training data folder (no manifest.json): pass RUN/data")
        files = read_val_files(data)
        unknown = set(only) - {f["repo"] for f in files}
        if unknown:
            known = ", ".join(sorted({f["repo"] for f in files}))
            raise CoveError(f"no held-out files come from {', '.join(sorted(unknown))}: choose among {known}")
        return [(f["path"], f["text"]) for f in files if not only or f["repo"] in only]
    if not repos:
        return []
    from collections import Counter

    from training.config import TrainConfig
    from training.data import clean, collect

    cfg = TrainConfig()
    dropped: Counter = Counter()
    kept = clean(collect(repos, cfg, Path(cfg.out_dir) / "repos", dropped), cfg, dropped, Counter())
    return [(f.path, f.text) for f in kept]
