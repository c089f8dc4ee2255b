"""LLaMA-architecture models from TrainConfig, through transformers' own LlamaConfig.

Using the stock `LlamaForCausalLM` (SDPA attention) keeps checkpoints loadable by
transformers and convertible to GGUF by `cove convert` without any custom code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.config import TrainConfig

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM


def llama_config(cfg: TrainConfig, vocab_size: int, eos_token_id: int | None = None) -> "LlamaConfig":
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.dim,
        intermediate_size=cfg.ffn_dim,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads,
        max_position_embeddings=cfg.seq_len,
        rms_norm_eps=cfg.norm_eps,
        rope_theta=cfg.rope_theta,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
        attn_implementation="sdpa",
    )


def build_model(cfg: TrainConfig, vocab_size: int, eos_token_id: int | None = None) -> "LlamaForCausalLM":
    """A freshly initialised model; the seed makes the initial weights reproducible."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(llama_config(cfg, vocab_size, eos_token_id))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def load_weights(model: "LlamaForCausalLM", folder: "Path") -> None:
    """Start `model` from the weights of a transformers folder (any dtype; they become the model's)."""
    from safetensors.torch import load_file

    from assistant.errors import CoveError

    path = folder / "model.safetensors"
    if not path.is_file():
        raise CoveError(f"init_from: {path} does not exist: name a transformers folder with safetensors weights")
    own = model.state_dict()
    weights = load_file(path)
    wrong = sorted(set(own) ^ set(weights)) or [k for k in own if own[k].shape != weights[k].shape]
    if wrong:
        raise CoveError(f"init_from: {folder} does not fit this model ({wrong[0]}): use its shape "
                        "(dim, n_layers, n_heads, ffn_dim, vocabulary) or another folder")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in weights.items()})


def compute_params(model: "torch.nn.Module") -> int:
    """Parameters that cost matmul FLOPs: everything but the input embedding lookup."""
    embedding = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - embedding
