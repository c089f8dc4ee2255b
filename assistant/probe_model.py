"""A random-weight LLaMA GGUF of a chosen size and quantization, written in about a second,
to time llama.cpp with.

Generating a token reads every weight once, so a machine's speed per gigabyte of weights
can only be seen on a model whose weights, not llama.cpp's fixed per-token work, take
most of the time: the bundled model (6 MB) is far too small for that. The probe has the
shape of a small real model (grouped-query attention, a SwiGLU MLP 2.75 times as wide,
a 32,000-token vocabulary) and is ~320 MB in Q8_0 or in Q4_K, the two quantizations of
the catalogue (Q4_K_M is mostly Q4_K). Its embedding is tied to the output layer, as in
Qwen2.5-Coder's small models and Gemma, so every byte of the file is read per token (an
untied embedding is only read one row at a time). Its weights are random bytes under
fixed small block scales: llama.cpp does the same work for any values, and nothing reads
its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Quantization -> (weights per block, bytes per block, leading float16 scales per block).
BLOCKS = {"Q8_0": (32, 34, 1), "Q4_K": (256, 144, 2)}
#: SentencePiece token types (llama.cpp's): normal, unknown, control, byte.
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


@dataclass(frozen=True)
class ProbeShape:
    """The probe's quantization, size and shape."""

    quant: str = "Q8_0"
    hidden: int = 1024
    ffn: int = 2816
    layers: int = 10
    heads: int = 16
    kv_heads: int = 4
    vocab: int = 32000
    #: No separate output layer: llama.cpp uses the token embedding as the output layer.
    tied: bool = True

    def __post_init__(self) -> None:
        if self.quant not in BLOCKS:
            raise ValueError(f"probe quantization {self.quant!r} is not one of {', '.join(BLOCKS)}")

    def matrices(self) -> list[tuple[str, tuple[int, int]]]:
        """Every quantized weight as (GGUF name, numpy shape: rows, columns)."""
        head = self.hidden // self.heads
        per_layer = [("attn_q", (self.hidden, self.hidden)), ("attn_k", (self.kv_heads * head, self.hidden)),
                     ("attn_v", (self.kv_heads * head, self.hidden)), ("attn_output", (self.hidden, self.hidden)),
                     ("ffn_gate", (self.ffn, self.hidden)), ("ffn_up", (self.ffn, self.hidden)),
                     ("ffn_down", (self.hidden, self.ffn))]
        layers = [(f"blk.{i}.{name}.weight", shape) for i in range(self.layers) for name, shape in per_layer]
        output = [] if self.tied else [("output.weight", (self.vocab, self.hidden))]
        return [("token_embd.weight", (self.vocab, self.hidden)), *layers, *output]

    @property
    def weight_bytes(self) -> int:
        weights, size, _ = BLOCKS[self.quant]
        return sum(rows * cols // weights * size for _, (rows, cols) in self.matrices())


#: The probes measured: one per quantization, each large enough that reading weights
#: dominates a token's time.
PROBES = {"Q8_0": ProbeShape(layers=24), "Q4_K": ProbeShape(quant="Q4_K", layers=48)}


def write_probe(path: Path, shape: ProbeShape = ProbeShape(), seed: int = 0) -> None:
    """Write the probe GGUF to `path` (the caller deletes it when done)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(f"cove speed probe ({shape.quant}, random weights)")
    writer.add_context_length(512)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_dimension_count(shape.hidden // shape.heads)
    _add_vocabulary(writer, shape.vocab)
    weights, size, scales = BLOCKS[shape.quant]
    scale = np.full(scales, 0.002, dtype=np.float16).view(np.uint8)
    rng = np.random.default_rng(seed)
    for name, (rows, cols) in shape.matrices():
        blocks = np.frombuffer(rng.bytes(rows * cols // weights * size), dtype=np.uint8).copy().reshape(-1, size)
        blocks[:, :scale.size] = scale
        writer.add_tensor(name, blocks.reshape(rows, -1), raw_dtype=gguf.GGMLQuantizationType[shape.quant])
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
