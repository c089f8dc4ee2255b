"""config.json -> GGUF hyper-parameters, one table row per key.

Both spellings of rope settings are read: transformers 5 nests them under
`rope_parameters`, older checkpoints have top-level `rope_theta` / `rope_scaling`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gguf

from assistant.errors import CoveError


@dataclass(frozen=True)
class HParams:
    """The shape of a decoder-only transformer, as llama.cpp needs it."""

    context_length: int
    embedding_length: int
    block_count: int
    feed_forward_length: int
    head_count: int
    head_count_kv: int
    head_dim: int
    rope_freq_base: float
    rope_scaling: tuple[str, float] | None
    rms_eps: float
    vocab_size: int
    tie_word_embeddings: bool


def _need(config: dict[str, Any], key: str, source: str) -> Any:
    if config.get(key) is None:
        raise CoveError(f"{source} lacks {key!r}: it is not a complete transformers config.json")
    return config[key]


def _rope(config: dict[str, Any], source: str) -> tuple[float, tuple[str, float] | None]:
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = params.get("rope_theta", config.get("rope_theta", 10000.0))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind == "default":
        return float(theta), None
    if kind == "linear":
        return float(theta), ("linear", float(params["factor"]))
    raise CoveError(
        f"rope type {kind!r} in {source} is not supported by the converter yet: only default and linear rope scaling"
    )


def read_hparams(config: dict[str, Any], source: str) -> HParams:
    """The hyper-parameters of a config.json, or an error naming the missing key."""
    if config.get("use_sliding_window"):
        raise CoveError(f"{source} enables sliding-window attention, which llama.cpp's {config.get('model_type')} "
                        "models do not apply: the converted model would attend differently")
    hidden = _need(config, "hidden_size", source)
    heads = _need(config, "num_attention_heads", source)
    theta, scaling = _rope(config, source)
    return HParams(
        context_length=_need(config, "max_position_embeddings", source),
        embedding_length=hidden,
        block_count=_need(config, "num_hidden_layers", source),
        feed_forward_length=_need(config, "intermediate_size", source),
        head_count=heads,
        head_count_kv=config.get("num_key_value_heads") or heads,
        head_dim=config.get("head_dim") or hidden // heads,
        rope_freq_base=theta,
        rope_scaling=scaling,
        rms_eps=_need(config, "rms_norm_eps", source),
        vocab_size=_need(config, "vocab_size", source),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
    )


#: GGUFWriter method -> the value it is given. One line per key.
_KEYS: tuple[tuple[str, Callable[[HParams], Any]], ...] = (
    ("add_context_length", lambda h: h.context_length),
    ("add_embedding_length", lambda h: h.embedding_length),
    ("add_block_count", lambda h: h.block_count),
    ("add_feed_forward_length", lambda h: h.feed_forward_length),
    ("add_head_count", lambda h: h.head_count),
    ("add_head_count_kv", lambda h: h.head_count_kv),
    ("add_key_length", lambda h: h.head_dim),
    ("add_value_length", lambda h: h.head_dim),
    ("add_rope_dimension_count", lambda h: h.head_dim),
    ("add_rope_freq_base", lambda h: h.rope_freq_base),
    ("add_layer_norm_rms_eps", lambda h: h.rms_eps),
    ("add_vocab_size", lambda h: h.vocab_size),
)

_SCALING = {"linear": gguf.RopeScalingType.LINEAR}


def write_hparams(writer: gguf.GGUFWriter, hparams: HParams) -> None:
    """Add the architecture keys (`{arch}.context_length`, ...) to `writer`."""
    for method, value in _KEYS:
        getattr(writer, method)(value(hparams))
    if hparams.rope_scaling:
        kind, factor = hparams.rope_scaling
        writer.add_rope_scaling_type(_SCALING[kind])
        writer.add_rope_scaling_factor(factor)
