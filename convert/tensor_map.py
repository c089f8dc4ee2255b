"""Transformers tensor names -> GGUF tensor names, one table per model family.

The GGUF spellings come from gguf-py's own `MODEL_TENSOR` enum and `TENSOR_NAMES` table,
so this file only says which transformers name is which tensor. A checkpoint tensor that
no row matches is refused by name: a silently dropped tensor is a broken model.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import gguf
import numpy as np

from assistant.errors import CoveError

T = gguf.MODEL_TENSOR


class Rotary(enum.Enum):
    """How q/k projection rows are reordered for llama.cpp's rotary layout."""

    NONE = "none"  #: the family's rope already uses the halves layout llama.cpp expects (NEOX)
    QUERY = "query"  #: permute with the number of query heads
    KEY = "key"  #: permute with the number of key/value heads (grouped-query attention)


@dataclass(frozen=True)
class Row:
    """One transformers module (without `.weight`/`.bias`) and the GGUF tensor it becomes."""

    hf: str
    tensor: gguf.MODEL_TENSOR
    rotary: Rotary = Rotary.NONE
    #: Added to the weight on the way: Gemma's RMSNorm multiplies by (1 + weight) and
    #: llama.cpp's by the weight, so Gemma norms are stored with the 1 added.
    shift: float = 0.0


@dataclass(frozen=True)
class Family:
    """A model family: its transformers architectures, GGUF architecture and tensor table."""

    name: str
    arch: gguf.MODEL_ARCH
    hf_architectures: tuple[str, ...]
    rows: tuple[Row, ...]
    #: Which parameter kinds may appear (Qwen2 has q/k/v biases, LLaMA has none).
    suffixes: tuple[str, ...] = ("weight",)
    #: Normalisation: "rms" (RMSNorm, `*.layer_norm_rms_epsilon`) or "layer" (LayerNorm
    #: with bias, `*.attention.layer_norm_epsilon`), and the config.json key of its epsilon.
    norm: str = "rms"
    eps_key: str = "rms_norm_eps"
    #: The MLP's activation is GELU, which llama.cpp computes from a table of f16 values
    #: (transformers exactly): logits then differ by ~1e-3 whatever the weights' type.
    gelu: bool = False

    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.arch]


_LLAMA_ROWS = (
    Row("model.embed_tokens", T.TOKEN_EMBD),
    Row("model.norm", T.OUTPUT_NORM),
    Row("lm_head", T.OUTPUT),
    Row("model.layers.{bid}.input_layernorm", T.ATTN_NORM),
    Row("model.layers.{bid}.self_attn.q_proj", T.ATTN_Q, Rotary.QUERY),
    Row("model.layers.{bid}.self_attn.k_proj", T.ATTN_K, Rotary.KEY),
    Row("model.layers.{bid}.self_attn.v_proj", T.ATTN_V),
    Row("model.layers.{bid}.self_attn.o_proj", T.ATTN_OUT),
    Row("model.layers.{bid}.post_attention_layernorm", T.FFN_NORM),
    Row("model.layers.{bid}.mlp.gate_proj", T.FFN_GATE),
    Row("model.layers.{bid}.mlp.up_proj", T.FFN_UP),
    Row("model.layers.{bid}.mlp.down_proj", T.FFN_DOWN),
)

_GEMMA3_ROWS = (
    Row("model.embed_tokens", T.TOKEN_EMBD),
    Row("model.norm", T.OUTPUT_NORM, shift=1.0),
    Row("lm_head", T.OUTPUT),
    Row("model.layers.{bid}.input_layernorm", T.ATTN_NORM, shift=1.0),
    Row("model.layers.{bid}.self_attn.q_proj", T.ATTN_Q),
    Row("model.layers.{bid}.self_attn.k_proj", T.ATTN_K),
    Row("model.layers.{bid}.self_attn.v_proj", T.ATTN_V),
    Row("model.layers.{bid}.self_attn.o_proj", T.ATTN_OUT),
    Row("model.layers.{bid}.self_attn.q_norm", T.ATTN_Q_NORM, shift=1.0),
    Row("model.layers.{bid}.self_attn.k_norm", T.ATTN_K_NORM, shift=1.0),
    Row("model.layers.{bid}.post_attention_layernorm", T.ATTN_POST_NORM, shift=1.0),
    Row("model.layers.{bid}.pre_feedforward_layernorm", T.FFN_NORM, shift=1.0),
    Row("model.layers.{bid}.post_feedforward_layernorm", T.FFN_POST_NORM, shift=1.0),
    Row("model.layers.{bid}.mlp.gate_proj", T.FFN_GATE),
    Row("model.layers.{bid}.mlp.up_proj", T.FFN_UP),
    Row("model.layers.{bid}.mlp.down_proj", T.FFN_DOWN),
)

_STARCODER2_ROWS = (
    Row("model.embed_tokens", T.TOKEN_EMBD),
    Row("model.norm", T.OUTPUT_NORM),
    Row("lm_head", T.OUTPUT),
    Row("model.layers.{bid}.input_layernorm", T.ATTN_NORM),
    Row("model.layers.{bid}.self_attn.q_proj", T.ATTN_Q),
    Row("model.layers.{bid}.self_attn.k_proj", T.ATTN_K),
    Row("model.layers.{bid}.self_attn.v_proj", T.ATTN_V),
    Row("model.layers.{bid}.self_attn.o_proj", T.ATTN_OUT),
    Row("model.layers.{bid}.post_attention_layernorm", T.FFN_NORM),
    Row("model.layers.{bid}.mlp.c_fc", T.FFN_UP),
    Row("model.layers.{bid}.mlp.c_proj", T.FFN_DOWN),
)

FAMILIES: tuple[Family, ...] = (
    Family("llama", gguf.MODEL_ARCH.LLAMA, ("LlamaForCausalLM",), _LLAMA_ROWS),
    # Qwen2 uses the same module names; its rope is NEOX-style, which llama.cpp's qwen2
    # architecture applies directly, so q/k keep their order.
    Family(
        "qwen2", gguf.MODEL_ARCH.QWEN2, ("Qwen2ForCausalLM",),
        tuple(Row(r.hf, r.tensor) for r in _LLAMA_ROWS),
        suffixes=("weight", "bias"),
    ),
    # Gemma 3's text model (rope NEOX-style, q/k in order); norms get their 1 added.
    Family("gemma3", gguf.MODEL_ARCH.GEMMA3, ("Gemma3ForCausalLM",), _GEMMA3_ROWS, gelu=True),
    # StarCoder2: LayerNorm with biases, a two-matrix GELU MLP, biases on every linear layer.
    Family(
        "starcoder2", gguf.MODEL_ARCH.STARCODER2, ("Starcoder2ForCausalLM",), _STARCODER2_ROWS,
        suffixes=("weight", "bias"), norm="layer", eps_key="norm_epsilon", gelu=True,
    ),
)

#: Buffers some checkpoints carry that are not parameters (recomputed by llama.cpp).
IGNORED = re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")


def family_for(architectures: list[str] | None, source: str) -> Family:
    """The family of a `config.json` `architectures` list, or a one-line error."""
    for family in FAMILIES:
        if architectures and architectures[0] in family.hf_architectures:
            return family
    supported = ", ".join(a for f in FAMILIES for a in f.hf_architectures)
    raise CoveError(
        f"unsupported architecture {architectures!r} in {source}: the converter handles {supported}"
    )


@dataclass(frozen=True)
class Mapped:
    """Where one checkpoint tensor goes and how it is transformed on the way."""

    gguf_name: str
    rotary: Rotary
    shift: float = 0.0


class TensorMap:
    """Looks up checkpoint tensor names for one family and block count."""

    def __init__(self, family: Family, n_blocks: int):
        self.family = family
        self._table: dict[str, Mapped] = {}
        for row in family.rows:
            blocks = range(n_blocks) if "{bid}" in row.hf else [None]
            for bid in blocks:
                hf = row.hf.format(bid=bid)
                base = gguf.TENSOR_NAMES[row.tensor].format(bid=bid)
                for suffix in family.suffixes:
                    shift = row.shift if suffix == "weight" else 0.0
                    self._table[f"{hf}.{suffix}"] = Mapped(f"{base}.{suffix}", row.rotary, shift)

    def map(self, hf_name: str, source: str) -> Mapped | None:
        """The GGUF destination of `hf_name`; None for ignorable buffers; error otherwise."""
        if IGNORED.match(hf_name):
            return None
        try:
            return self._table[hf_name]
        except KeyError:
            raise CoveError(
                f"unknown tensor {hf_name!r} in {source}: the {self.family.name} converter has no "
                f"GGUF name for it (is the checkpoint a {self.family.name} model with the config's layer count?)"
            ) from None


def permute_rotary(weights: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder q/k rows from transformers' rotate-half layout to llama.cpp's interleaved one.

    Per head, the first and second halves of the rotary dimensions are interleaved; the
    same reordering applies to a bias (1-D) or to a LoRA B matrix (rows are outputs).
    """
    head_dim = weights.shape[0] // n_heads
    return (
        weights.reshape(n_heads, 2, head_dim // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )
