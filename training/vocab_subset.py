"""The training loss over the tokens a fine-tuning run can see, not the whole vocabulary.

Gemma 3 270M's output layer is its 262,144-row embedding: on a CPU the logits of a step
(rows x 640 x 262k multiply-adds forward, as many backward, and a 262k-wide softmax per
token) cost more than the 18 blocks together. Under LoRA that layer is frozen, and every
target the loss ever sees is a token of the training data (repository + replay): the
softmax runs over those ids only (tens of thousands), the rest of the vocabulary neither
helps nor is pushed down. Held-out loss, the report and the GGUF use the full vocabulary.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from training.data import TokenRows
from training.loop import autocast


def seen_ids(rows: Iterable[TokenRows], vocab_size: int) -> np.ndarray:
    """The sorted ids that occur in any of `rows`' shards."""
    seen = np.zeros(vocab_size, dtype=bool)
    for split in rows:
        for shard in split.maps:
            seen[np.unique(np.asarray(shard))] = True
    return np.flatnonzero(seen)


class SubsetLoss:
    """Next-token cross-entropy with the softmax over `ids` (the targets must be among them).
    A callable like `loop.token_loss`: (model, rows [B, T+1], pad_id) -> mean loss."""

    def __init__(self, ids: np.ndarray, vocab_size: int) -> None:
        import torch

        self.ids = torch.as_tensor(ids, dtype=torch.long)
        #: vocabulary id -> position in `ids` (-100, ignored, for ids outside it)
        self.position = torch.full((vocab_size,), -100, dtype=torch.long)
        self.position[self.ids] = torch.arange(len(ids))

    def __call__(self, model, tokens, pad_id: int | None = None):
        import torch
        import torch.nn.functional as F

        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under peft
        weight = base.get_output_embeddings().weight
        ids, position = self.ids.to(tokens.device), self.position.to(tokens.device)
        with autocast(tokens.device):
            hidden = base.get_decoder()(input_ids=tokens[:, :-1]).last_hidden_state
            logits = hidden @ weight[ids].T
        cap = getattr(base.config, "final_logit_softcapping", None)
        logits = logits.float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        targets = position[tokens[:, 1:]]
        if pad_id is not None:
            targets = targets.masked_fill(tokens[:, 1:] == pad_id, -100)
        return F.cross_entropy(logits.reshape(-1, len(ids)), targets.reshape(-1), ignore_index=-100)
