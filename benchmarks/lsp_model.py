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
TOKENIZER_MODULES = ("textwrap.py", "json/decoder.py", "json/encoder.py", "shlex.py", "dataclasses.py",
                     "argparse.py", "pathlib.py", "inspect.py")


def stdlib_file(name: str) -> Path:
    return Path(sysconfig.get_paths()["stdlib"]) / name


def build_model(work: Path) -> Path:
    """The Q8_0 GGUF in `work` (built on the first call, about a minute)."""
    gguf = work / "lsp-bench-32m-q8_0.gguf"
    if gguf.is_file():
        return gguf
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from convert.model import convert_checkpoint
    from training.tokenizer import train_tokenizer

    folder = work / "lsp-bench-32m"
    train_tokenizer([stdlib_file(m).read_text() for m in TOKENIZER_MODULES], folder, vocab_size=SHAPE["vocab_size"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SHAPE, bos_token_id=None, eos_token_id=0))
    model.save_pretrained(folder)
    convert_checkpoint(folder, gguf, "q8_0", name="lsp-bench-32m")
    return gguf
