"""config.json -> GGUF hyper-parameters, one table row per key.

Both spellings of rope settings are read: transformers 5 nests them under
`rope_parameters` (Gemma 3 once more per layer kind, `full_attention` and
`sliding_attention`), older checkpoints have top-level `rope_theta` / `rope_scaling`.
A setting llama.cpp would apply differently from transformers is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gguf

from assistant.errors import CoveError
from convert.tensor_map import Family


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
    #: RMSNorm or LayerNorm epsilon, whichever the family uses (`Family.norm`).
    norm_eps: float
    vocab_size: int
    tie_word_embeddings: bool
    norm: str = "rms"
    #: Sliding-window attention (Gemma 3): the window and, per layer, whether it slides.
    sliding_window: int | None = None
    sliding_layers: tuple[bool, ...] | None = None
    #: Rope base of the sliding layers (Gemma 3's local rope).
    rope_freq_base_swa: float | None = None
    final_logit_softcapping: float | None = None


def _need(config: dict[str, Any], key: str, source: str) -> Any:
    if config.get(key) is None:
        raise CoveError(f"{source} lacks {key!r}: it is not a complete transformers config.json")
    return config[key]


def _rope(config: dict[str, Any], source: str) -> tuple[float, tuple[str, float] | None]:
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    params = params.get("full_attention", params)
    theta = params.get("rope_theta", config.get("rope_theta", 10000.0))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind == "default":
        return float(theta), None
    if kind == "linear":
        return float(theta), ("linear", float(params["factor"]))
    raise CoveError(
        f"rope type {kind!r} in {source} is not supported by the converter yet: only default and linear rope scaling"
    )


def gemma3_query_scalar(config: dict[str, Any]) -> int:
    """The `query_pre_attn_scalar` llama.cpp's gemma3 assumes (it does not read the key):
    the head size, or hidden size / heads for the 62-layer 27B."""
    if config["num_hidden_layers"] == 62:
        return config["hidden_size"] // config["num_attention_heads"]
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def _gemma3(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Gemma 3's extras: sliding layers and their rope, softcapping, and the query scale
    llama.cpp assumes (1/sqrt(head size), or 1/sqrt(hidden/heads) for the 62-layer 27B)."""
    if config.get("attn_logit_softcapping") is not None:
        raise CoveError(f"{source} sets attn_logit_softcapping, which llama.cpp's gemma3 does not apply")
    layers = config["num_hidden_layers"]
    scale = gemma3_query_scalar(config)
    if config.get("query_pre_attn_scalar", scale) != scale:
        raise CoveError(
            f"{source} scales queries by 1/sqrt({config['query_pre_attn_scalar']}), and llama.cpp's gemma3 by "
            f"1/sqrt({scale}): the converted model would compute other logits (released Gemma 3 models agree)"
        )
    kinds = config.get("layer_types") or []
    sliding = tuple(kind == "sliding_attention" for kind in kinds) if len(kinds) == layers else None
    local = (config.get("rope_parameters") or {}).get("sliding_attention") or {}
    theta = local.get("rope_theta", config.get("rope_local_base_freq", 10000.0))
    window = config.get("sliding_window") if sliding is None or any(sliding) else None
    return dict(sliding_window=window, sliding_layers=sliding if window else None,
                rope_freq_base_swa=float(theta) if window else None,
                final_logit_softcapping=config.get("final_logit_softcapping"))


def read_hparams(config: dict[str, Any], source: str, family: Family) -> HParams:
    """The hyper-parameters of a config.json, or an error naming the missing key."""
    if config.get("use_sliding_window"):
        raise CoveError(f"{source} enables sliding-window attention, which llama.cpp's {config.get('model_type')} "
                        "models do not apply: the converted model would attend differently")
    hidden = _need(config, "hidden_size", source)
    heads = _need(config, "num_attention_heads", source)
    head_dim = config.get("head_dim") or hidden // heads
    theta, scaling = _rope(config, source)
    extras = _gemma3(config, source) if family.name == "gemma3" else {}
    return HParams(
        context_length=_need(config, "max_position_embeddings", source),
        embedding_length=hidden,
        block_count=_need(config, "num_hidden_layers", source),
        feed_forward_length=_need(config, "intermediate_size", source),
        head_count=heads,
        head_count_kv=config.get("num_key_value_heads") or heads,
        head_dim=head_dim,
        rope_freq_base=theta,
        rope_scaling=scaling,
        norm_eps=_need(config, family.eps_key, source),
        vocab_size=_need(config, "vocab_size", source),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        norm=family.norm,
        **extras,
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
    ("add_vocab_size", lambda h: h.vocab_size),
)
#: Keys written only when the model has the feature (value not None).
_OPTIONAL: tuple[tuple[str, Callable[[HParams], Any]], ...] = (
    ("add_layer_norm_rms_eps", lambda h: h.norm_eps if h.norm == "rms" else None),
    ("add_layer_norm_eps", lambda h: h.norm_eps if h.norm == "layer" else None),
    ("add_sliding_window", lambda h: h.sliding_window),
    ("add_sliding_window_pattern", lambda h: list(h.sliding_layers) if h.sliding_layers else None),
    ("add_rope_freq_base_swa", lambda h: h.rope_freq_base_swa),
    ("add_final_logit_softcapping", lambda h: h.final_logit_softcapping),
)

_SCALING = {"linear": gguf.RopeScalingType.LINEAR}


def write_hparams(writer: gguf.GGUFWriter, hparams: HParams) -> None:
    """Add the architecture keys (`{arch}.context_length`, ...) to `writer`."""
    for method, value in _KEYS:
        getattr(writer, method)(value(hparams))
    for method, value in _OPTIONAL:
        if value(hparams) is not None:
            getattr(writer, method)(value(hparams))
    if hparams.rope_scaling:
        kind, factor = hparams.rope_scaling
        writer.add_rope_scaling_type(_SCALING[kind])
        writer.add_rope_scaling_factor(factor)
