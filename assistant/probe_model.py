"""A random-weight LLaMA GGUF of a chosen size, written in seconds, to time llama.cpp with.

Generating a token reads every weight once, so what a machine's speed per gigabyte of
weights is can only be seen on a model whose weights, not llama.cpp's fixed per-token
work, take most of the time: the bundled model (6 MB) is far too small for that. The
probe is a LLaMA in Q8_0 of about 200 MB, the shape of a small real model (grouped-query
attention, a SwiGLU MLP 2.75 times as wide, an untied 32,000-token vocabulary). Its
weights are random bytes under a fixed small scale: llama.cpp does the same work for
any values, and nothing ever reads its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Q8_0 stores 32 weights as one float16 scale and 32 signed bytes.
Q8_0_BLOCK, Q8_0_BYTES = 32, 34
#: SentencePiece token types (llama.cpp's): normal, unknown, control, byte.
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


@dataclass(frozen=True)
class ProbeShape:
    """The probe's size and shape; the defaults make a ~220 MB file."""

    hidden: int = 1024
    ffn: int = 2816
    layers: int = 10
    heads: int = 16
    kv_heads: int = 4
    vocab: int = 32000

    def matrices(self) -> list[tuple[str, tuple[int, int]]]:
        """Every Q8_0 weight as (GGUF name, numpy shape: rows, columns)."""
        head = self.hidden // self.heads
        per_layer = [("attn_q", (self.hidden, self.hidden)), ("attn_k", (self.kv_heads * head, self.hidden)),
                     ("attn_v", (self.kv_heads * head, self.hidden)), ("attn_output", (self.hidden, self.hidden)),
                     ("ffn_gate", (self.ffn, self.hidden)), ("ffn_up", (self.ffn, self.hidden)),
                     ("ffn_down", (self.hidden, self.ffn))]
        layers = [(f"blk.{i}.{name}.weight", shape) for i in range(self.layers) for name, shape in per_layer]
        return [("token_embd.weight", (self.vocab, self.hidden)), *layers, ("output.weight", (self.vocab, self.hidden))]

    @property
    def weight_bytes(self) -> int:
        return sum(rows * cols // Q8_0_BLOCK * Q8_0_BYTES for _, (rows, cols) in self.matrices())


def write_probe(path: Path, shape: ProbeShape = ProbeShape(), seed: int = 0) -> None:
    """Write the probe GGUF to `path` (the caller deletes it when done)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("cove speed probe (random weights)")
    writer.add_context_length(512)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_dimension_count(shape.hidden // shape.heads)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    _add_vocabulary(writer, shape.vocab)
    rng = np.random.default_rng(seed)
    scale = np.array([0.002], dtype=np.float16).view(np.uint8)
    for name, (rows, cols) in shape.matrices():
        blocks = np.frombuffer(rng.bytes(rows * cols // Q8_0_BLOCK * Q8_0_BYTES), dtype=np.uint8).copy()
        blocks = blocks.reshape(-1, Q8_0_BYTES)
        blocks[:, :2] = scale
        writer.add_tensor(name, blocks.reshape(rows, -1), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    ones = np.ones(shape.hidden, dtype=np.float32)
    for i in range(shape.layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
    writer.add_tensor("output_norm.weight", ones)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _add_vocabulary(writer, size: int) -> None:
    """A SentencePiece vocabulary: three control tokens, the 256 byte tokens, made-up pieces."""
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
    types = [UNKNOWN, CONTROL, CONTROL, *([BYTE] * 256)]
    tokens += [f"\u2581p{i}" for i in range(size - len(tokens))]
    types += [NORMAL] * (size - len(types))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * size)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
