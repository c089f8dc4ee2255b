"""Tiny random transformers checkpoints for tests, built from code in seconds.

A byte-level BPE tokenizer is trained on a few standard-library modules with the
project's own trainer (so it carries the FIM and CodeGen2 sentinels), and a seeded
random model of the requested family is saved beside it with `save_pretrained`.
Builds are cached under a folder named by a hash of everything they depend on, so a
second test session reuses them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Callable

from assistant.fim import END_OF_TEXT, PROJECT_SPECIAL_TOKENS

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])

#: Standard-library modules the tiny tokenizer is trained on: real, varied Python.
TRAINING_MODULES = (
    "textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "heapq.py", "bisect.py",
    "string.py", "json/encoder.py", "json/decoder.py", "dataclasses.py",
)
VOCAB_SIZE = 1000

#: The tiny shape: big enough for grouped-query attention (4 heads, 2 kv heads), small
#: enough that a forward pass takes milliseconds.
SHAPE = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-6,
    # Wider than transformers' 0.02 so that logits differ enough for top-1 checks to mean something.
    initializer_range=0.1,
)
#: A random model big enough that each token takes milliseconds on a laptop CPU: tests that
#: interrupt a running generation need one that outlasts a round trip to the server.
SLOW_SHAPE = {**SHAPE, "hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8,
              "num_attention_heads": 8, "num_key_value_heads": 2}
#: Per-family changes to SHAPE. Gemma 3: six layers so that five slide and one attends
#: fully, a window shorter than the compared sequences, and queries scaled by the head
#: size as in the released models (llama.cpp assumes it). StarCoder2: LayerNorm epsilon.
FAMILY_SHAPES: dict[str, dict] = {
    "gemma3": dict(num_hidden_layers=6, head_dim=16, query_pre_attn_scalar=16, sliding_window=32),
    "starcoder2": dict(norm_epsilon=1e-5),
}
#: SHAPE keys a family's config does not take.
FAMILY_DROPS: dict[str, tuple[str, ...]] = {"starcoder2": ("rms_norm_eps",)}
SEED = 0

#: Files whose content decides what a build produces; their hash names the cache folder.
INPUTS = (
    "tests/tiny_model.py", "training/tokenizer.py", "assistant/fim.py",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "convert").rglob("*.py"))),
)


def training_texts() -> list[str]:
    return [(STDLIB / name).read_text(encoding="utf-8") for name in TRAINING_MODULES]


def train_qwen2_style_tokenizer(texts: list[str], folder: Path, vocab_size: int = VOCAB_SIZE) -> Path:
    """A byte-level BPE with Qwen2's pre-tokenizer (regex split, NFC) and tokenizer class."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    from convert.tokenizer import QWEN2_REGEX

    return _train_byte_level_bpe(texts, folder, vocab_size, pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ]), {"tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": END_OF_TEXT,
         "pad_token": END_OF_TEXT, "unk_token": None}, normalizer=normalizers.NFC())


def train_starcoder_style_tokenizer(texts: list[str], folder: Path, vocab_size: int = VOCAB_SIZE) -> Path:
    """A byte-level BPE with StarCoder's pre-tokenizer (each digit alone, then the GPT-2
    regex), its FIM and repository sentinels and its tokenizer class."""
    from tokenizers import pre_tokenizers

    return _train_byte_level_bpe(texts, folder, vocab_size, pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ]), {"tokenizer_class": "GPT2Tokenizer", "bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT,
         "unk_token": END_OF_TEXT})


def _train_byte_level_bpe(texts: list[str], folder: Path, vocab_size: int, pre_tokenizer, special: dict,
                          normalizer=None) -> Path:
    """A byte-level BPE with the project's special tokens, trained on `texts` behind
    `pre_tokenizer` (and `normalizer`), saved with a tokenizer_config.json of `special` (the
    class and its special-token names) beside it."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in PROJECT_SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {**special, "add_bos_token": False, "add_eos_token": False, "model_max_length": 1_000_000,
              "clean_up_tokenization_spaces": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def train_gemma_style_tokenizer(texts: list[str], folder: Path, vocab_size: int = VOCAB_SIZE) -> Path:
    """A SentencePiece BPE laid out like Gemma's: <pad> <eos> <bos> <unk> at ids 0-3, byte
    fallback, digits split, no dummy prefix, and the project's sentinels as control tokens."""
    _train_sentencepiece(texts, folder, vocab_size, add_dummy_prefix=False, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
                         pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>")
    config = {
        "tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>",
        "pad_token": "<pad>", "add_bos_token": True, "add_eos_token": False,
        "clean_up_tokenization_spaces": False, "model_max_length": 1_000_000,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def _train_sentencepiece(texts: list[str], folder: Path, vocab_size: int, **options) -> None:
    import sentencepiece

    folder.mkdir(parents=True, exist_ok=True)
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(line for text in texts for line in text.splitlines() if line.strip()),
        model_prefix=str(folder / "tokenizer"),
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        control_symbols=[t for t in PROJECT_SPECIAL_TOKENS if t != END_OF_TEXT],
        minloglevel=2,
        **options,
    )
    (folder / "tokenizer.vocab").unlink()


def train_sentencepiece_tokenizer(texts: list[str], folder: Path, vocab_size: int = VOCAB_SIZE) -> Path:
    """A LLaMA-style SentencePiece BPE (byte fallback) with the project's sentinels as control tokens."""
    _train_sentencepiece(texts, folder, vocab_size, unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    config = {
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "legacy": False,
        "clean_up_tokenization_spaces": False, "model_max_length": 1_000_000,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def _train_bpe(texts: list[str], folder: Path) -> Path:
    from training.tokenizer import train_tokenizer

    return train_tokenizer(texts, folder, vocab_size=VOCAB_SIZE)


#: tokenizer kind -> trainer
TOKENIZERS: dict[str, Callable[[list[str], Path], Path]] = {
    "bpe": _train_bpe,
    "qwen2-bpe": train_qwen2_style_tokenizer,
    "spm": train_sentencepiece_tokenizer,
    "gemma-spm": train_gemma_style_tokenizer,
    "starcoder-bpe": train_starcoder_style_tokenizer,
}


def _config(family: str, vocab_size: int, special: dict[str, int | None], shape: dict):
    from transformers import Gemma3TextConfig, LlamaConfig, Qwen2Config, Starcoder2Config

    configs = {"llama": LlamaConfig, "qwen2": Qwen2Config, "gemma3": Gemma3TextConfig, "starcoder2": Starcoder2Config}
    shape = {k: v for k, v in {**shape, **FAMILY_SHAPES.get(family, {})}.items()
             if k not in FAMILY_DROPS.get(family, ())}
    # Gemma 3 and StarCoder2 are released with tied embeddings, LLaMA and Qwen2 tested untied.
    tied = family in ("gemma3", "starcoder2")
    config = configs[family](vocab_size=vocab_size, tie_word_embeddings=tied, **shape, **special)
    if family == "gemma3":
        config.architectures = ["Gemma3ForCausalLM"]
    return config


def build_checkpoint(folder: Path, family: str = "llama", tokenizer: str = "bpe", shape: dict = SHAPE) -> Path:
    """Save a tokenizer and a seeded random `family` model of `shape` with that vocabulary in `folder`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    TOKENIZERS[tokenizer](training_texts(), folder)
    tok = AutoTokenizer.from_pretrained(folder)
    special = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    config = _config(family, len(tok), special, shape)
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        # transformers starts biases at 0 and norms at 1 (Gemma's at 0: it scales by 1 + w),
        # which would hide a mis-mapped one.
        norm_mean = 0.0 if family == "gemma3" else 1.0
        for name, parameter in model.named_parameters():
            if parameter.ndim == 1:
                parameter.normal_(0.0 if name.endswith(".bias") else norm_mean, SHAPE["initializer_range"])
    model.save_pretrained(folder)
    return folder


#: Named tiny checkpoints: case -> (model family, tokenizer kind).
CASES: dict[str, tuple[str, str]] = {
    "llama-bpe": ("llama", "bpe"),
    "qwen2-bpe": ("qwen2", "qwen2-bpe"),
    "llama-spm": ("llama", "spm"),
    "gemma3-spm": ("gemma3", "gemma-spm"),
    "starcoder2-bpe": ("starcoder2", "starcoder-bpe"),
}
#: The families whose reference is llama.cpp's own converter (tests/test_convert_llama_cpp_parity.py).
LLAMA_CPP_REFERENCE_CASES = ("gemma3-spm", "starcoder2-bpe")


def checkpoint(root: Path, case: str) -> Path:
    """The tiny checkpoint of `case` (CASES), built once under `root`."""
    family, kind = CASES[case]
    return cached(root, case, lambda folder: build_checkpoint(folder, family, kind))


def cache_key() -> str:
    """Hash of the builder's inputs and the library versions that shape the outputs."""
    import tokenizers
    import transformers

    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    digest.update(f"{sys.version}{transformers.__version__}{tokenizers.__version__}".encode())
    return digest.hexdigest()[:16]


def cached(root: Path, name: str, build: Callable[[Path], object]) -> Path:
    """`root/name`, built once: a build goes to a temporary folder renamed into place, so
    concurrent test sessions never see a half-built model."""
    final = root / name
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        build(temp)
        temp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return final


#: LoRA on every linear layer, including q and k whose B rows the converter permutes.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def build_lora_adapter(base: Path, folder: Path, rank: int = 4, alpha: int = 8) -> Path:
    """A peft LoRA adapter for the checkpoint in `base`, with random (non-zero) A and B."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                        init_lora_weights=False)
    torch.manual_seed(SEED + 1)
    get_peft_model(model, config).save_pretrained(folder)
    return folder
