"""Byte-level BPE tokenizer trainer for from-scratch models.

The pre-tokenizer is the GPT-2 regex (HF `ByteLevel(use_regex=True)`), which llama.cpp
reproduces exactly under `tokenizer.ggml.pre = "gpt-2"`, so converted models tokenize the
same in transformers and in llama.cpp. The special tokens are the project's FIM and
CodeGen2 sentinels from `assistant.fim`, added as whole tokens that user text can never
produce.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

from assistant.fim import END_OF_TEXT, PROJECT_SPECIAL_TOKENS

#: The llama.cpp pre-tokenizer name matching `pre_tokenizers.ByteLevel(use_regex=True)`.
LLAMA_CPP_PRE_TOKENIZER = "gpt-2"


def train_tokenizer(texts: Iterable[str], out_dir: Path, vocab_size: int = 16384) -> Path:
    """Train a byte-level BPE on `texts` and save it as a transformers tokenizer folder.

    Writes `tokenizer.json` and `tokenizer_config.json` into `out_dir` and returns it.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + len(PROJECT_SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size {vocab_size} is too small: it must hold the 256 byte tokens and "
            f"{len(PROJECT_SPECIAL_TOKENS)} special tokens"
        )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in PROJECT_SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_nonempty(texts), trainer=trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = {
        # Load tokenizer.json as it is: a model-specific class would substitute its own
        # pre-tokenizer and break parity with llama.cpp.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": END_OF_TEXT,
        "pad_token": END_OF_TEXT,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
        "additional_special_tokens": [t for t in PROJECT_SPECIAL_TOKENS if t != END_OF_TEXT],
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out_dir


def _nonempty(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if text:
            yield text


def load_tokenizer(source: Path):
    """A `tokenizers.Tokenizer` from a tokenizer folder, a transformers checkpoint or a GGUF.

    User text is encoded with special tokens disabled, so a file that contains
    `<|endoftext|>` stays text (special pieces are looked up by `encode_pieces`).
    """
    from assistant.errors import CoveError

    if (source / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    else:
        from transformers import AutoTokenizer

        try:
            if source.suffix == ".gguf":
                backend = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
            else:
                backend = AutoTokenizer.from_pretrained(str(source))
        except (OSError, ValueError) as error:
            raise CoveError(f"cannot load a tokenizer from {source} ({error}): pass a tokenizer folder, checkpoint or GGUF") from None
        tokenizer = backend.backend_tokenizer
    tokenizer.encode_special_tokens = True
    return tokenizer


def encode_pieces(tokenizer, pieces) -> list[int]:
    """Token ids of `assistant.fim.Piece`s: special pieces by exact lookup, text as text."""
    from assistant.errors import CoveError

    texts = [p.text for p in pieces if not p.special]
    encoded = iter(tokenizer.encode_batch(texts, add_special_tokens=False)) if texts else iter(())
    ids: list[int] = []
    for piece in pieces:
        if piece.special:
            token_id = tokenizer.token_to_id(piece.text)
            if token_id is None:
                raise CoveError(f"the tokenizer has no token {piece.text!r}: use a tokenizer with the project's special tokens")
            ids.append(token_id)
        else:
            ids.extend(next(encoded).ids)
    return ids
