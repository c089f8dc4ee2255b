"""The fine-tuning loss over the tokens of the training data (training/vocab_subset.py)."""

from __future__ import annotations

import numpy as np
import torch

from training.loop import token_loss
from training.vocab_subset import SubsetLoss, seen_ids


def _model_and_rows(tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    torch.manual_seed(0)
    rows = torch.randint(0, 200, (2, 17))
    return model, rows


def test_over_the_whole_vocabulary_it_is_the_usual_loss(tiny_model) -> None:
    model, rows = _model_and_rows(tiny_model)
    vocab = model.config.vocab_size
    torch.testing.assert_close(SubsetLoss(np.arange(vocab), vocab)(model, rows), token_loss(model, rows))


def test_over_a_subset_it_is_the_loss_of_the_renormalised_softmax(tiny_model) -> None:
    model, rows = _model_and_rows(tiny_model)
    vocab = model.config.vocab_size
    ids = np.unique(rows.numpy())
    with torch.no_grad():
        logits = model(input_ids=rows[:, :-1]).logits[..., torch.as_tensor(ids)]
    positions = torch.as_tensor(np.searchsorted(ids, rows[:, 1:].numpy()))
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, len(ids)), positions.reshape(-1))
    torch.testing.assert_close(SubsetLoss(ids, vocab)(model, rows), expected)


def test_padding_targets_are_skipped(tiny_model) -> None:
    model, rows = _model_and_rows(tiny_model)
    vocab = model.config.vocab_size
    pad = int(rows[0, 5])
    torch.testing.assert_close(SubsetLoss(np.arange(vocab), vocab)(model, rows, pad), token_loss(model, rows, pad))


def test_seen_ids_are_the_tokens_of_every_shard() -> None:
    class Rows:
        maps = [np.array([5, 3, 5, 9], dtype=np.uint16), np.array([1, 3], dtype=np.uint16)]

    assert seen_ids([Rows()], 12).tolist() == [1, 3, 5, 9]
