"""The model the language-server benchmarks run: a ~32M-parameter random LLaMA as Q8_0 GGUF.

The size of a small laptop completion model (REFERENCE.md measures a 40M Q8_0 at ~1.8 ms
per token on these cores). Built once with the project's own tokenizer trainer and
converter, and cached in the work folder. Random weights: the figures are about speed,
never about what it writes.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

#: hidden 512, 8 layers, 8 heads (4 kv), FFN 1408, vocabulary 8192, untied: 32M parameters, 34 MB as Q8_0.
SHAPE = dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
             num_key_value_heads=4, max_position_embeddings=4096, rms_norm_eps=1e-6, vocab_size=8192,
             tie_word_embeddings=False, initializer_range=0.05)
#: Qwen2.5-Coder-0.5B's shape (24 layers, hidden 896, 14 heads, 2 kv heads, FFN 4864) with
#: the same 8192-token vocabulary: 372M parameters, ~395 MB as Q8_0 (issue 14).
QWEN_05B_SHAPE = dict(SHAPE, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                      num_key_value_heads=2, max_position_embeddings=32768, initializer_range=0.02)
TOKENIZER_MODULES = ("textwrap.py", "json/decoder.py", "json/encoder.py", "shlex.py", "dataclasses.py",
                     "argparse.py", "pathlib.py", "inspect.py")


def stdlib_file(name: str) -> Path:
    return Path(sysconfig.get_paths()["stdlib"]) / name


def build_model(work: Path, shape: dict = SHAPE, name: str = "lsp-bench-32m") -> Path:
    """The Q8_0 GGUF of `shape` in `work` (built on the first call: about a minute at
    32M parameters, several at 372M)."""
    gguf = work / f"{name}-q8_0.gguf"
    if gguf.is_file():
        return gguf
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from convert.model import convert_checkpoint
    from training.tokenizer import train_tokenizer

    folder = work / name
    train_tokenizer([stdlib_file(m).read_text() for m in TOKENIZER_MODULES], folder, vocab_size=shape["vocab_size"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**shape, bos_token_id=None, eos_token_id=0))
    model.save_pretrained(folder)
    convert_checkpoint(folder, gguf, "q8_0", name=name)
    return gguf
