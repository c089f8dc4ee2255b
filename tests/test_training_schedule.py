"""Muon, the warmup-stable-decay schedule and extending a finished run, on the tiny preset."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from assistant.errors import CoveError
from training import checkpoint
from training.config import load_config
from training.loop import make_optimizer
from training.metrics import read_metrics
from training.model import build_model
from training.muon import Muon, orthogonalize
from training.pretrain import pretrain
from training.schedule import decay_start, lr_factor, steps_within
from test_training_pretrain import losses, synthetic_repo, tiny

#: Losses of the tiny preset with Muon and wsd on `synthetic_repo` (torch 2.13 CPU).
#: Regenerate only on a deliberate change of model, data, optimizer or schedule.
GOLDEN_MUON_WSD = [5.95391, 5.92192, 5.86424, 5.74696, 5.70733, 5.56529, 5.49756, 5.38211, 5.39621, 5.23436, 5.1102, 5.08593]

MUON_WSD = {"optimizer": "muon", "schedule": "wsd", "decay_share": 0.25}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return synthetic_repo(tmp_path_factory.mktemp("src") / "repo")


def test_wsd_warms_up_holds_then_decays_linearly_to_min_lr():
    cfg = load_config("tiny", overrides={"max_steps": 100, "warmup_steps": 10, "lr": 1.0, "min_lr": 0.1,
                                         "schedule": "wsd", "decay_share": 0.2})
    factors = [lr_factor(s, cfg) for s in range(101)]
    assert decay_start(cfg) == 80
    assert factors[:10] == sorted(factors[:10]) and factors[9] < 1.0
    assert factors[10:81] == [1.0] * 71
    assert factors[90] == pytest.approx(0.55) and factors[100] == pytest.approx(0.1)


def test_a_time_budget_sizes_a_wsd_run_to_the_measured_pace():
    cfg = load_config("tiny", overrides={"max_steps": 1000, "warmup_steps": 10, "schedule": "wsd", "decay_share": 0.2})
    assert steps_within(cfg, step=100, step_s=0.5, seconds_left=100.0) == 300


def test_a_run_slower_than_its_budget_decays_from_now_not_from_the_past():
    cfg = load_config("tiny", overrides={"max_steps": 1000, "warmup_steps": 10, "schedule": "wsd", "decay_share": 0.2})
    length = steps_within(cfg, step=100, step_s=10.0, seconds_left=50.0)
    assert decay_start(dataclasses.replace(cfg, max_steps=length)) >= 100
    assert lr_factor(100, dataclasses.replace(cfg, max_steps=length)) == 1.0


def test_a_run_out_of_time_ends_finished_with_its_model_saved(tmp_path, repo):
    result = pretrain(tiny(tmp_path, repo, minutes=1e-4, **MUON_WSD), log=lambda _: None)
    assert result.out_of_time and not result.stopped and result.step < 12
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_orthogonalize_keeps_singular_vectors_and_brings_singular_values_near_one():
    torch.manual_seed(0)
    for rows, cols in ((64, 16), (16, 64), (32, 32)):
        k = min(rows, cols)
        u, v = torch.linalg.qr(torch.randn(rows, k))[0], torch.linalg.qr(torch.randn(cols, k))[0]
        singular = torch.logspace(-1.5, 0.5, k)  # spread over a factor of 100, like a momentum update's
        core = u.T @ orthogonalize(u @ torch.diag(singular) @ v.T) @ v
        torch.testing.assert_close(core, torch.diag(torch.diagonal(core)), atol=1e-4, rtol=0)
        assert torch.diagonal(core).min() > 0.6 and torch.diagonal(core).max() < 1.25


def test_muon_takes_hidden_matrices_and_adamw_the_rest():
    cfg = load_config("tiny", overrides=MUON_WSD)
    model = build_model(cfg, 512)
    optimizer = make_optimizer(model, cfg)
    assert isinstance(optimizer, Muon)
    names = {id(p): n for n, p in model.named_parameters()}
    muon = {names[id(p)] for g in optimizer.param_groups if g["muon"] for p in g["params"]}
    adamw = {names[id(p)] for g in optimizer.param_groups if not g["muon"] for p in g["params"]}
    assert "model.layers.0.self_attn.q_proj.weight" in muon and "model.layers.1.mlp.down_proj.weight" in muon
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"} <= adamw
    assert not muon & adamw and len(muon | adamw) == len(names)
    assert all(g["lr"] == cfg.muon_lr for g in optimizer.param_groups if g["muon"])


def test_muon_wsd_run_reproduces_its_golden_losses(tmp_path, repo):
    pretrain(tiny(tmp_path, repo, **MUON_WSD), log=lambda _: None)
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(GOLDEN_MUON_WSD),
                               rtol=2e-4, atol=2e-4)


def test_extended_run_repeats_the_longer_run_exactly(tmp_path, repo):
    """12 steps, then extended to 20: the stable phase resumes from the pre-decay checkpoint
    (step 9), the decay is re-run at the new end, and every loss is that of a 20-step run."""
    pretrain(tiny(tmp_path / "whole", repo, max_steps=20, **MUON_WSD), log=lambda _: None)
    pretrain(tiny(tmp_path, repo, **MUON_WSD), log=lambda _: None)
    folder = tmp_path / "run" / "checkpoints"
    assert [p.name for p in folder.glob("stable-*")] == ["stable-00000009.pt"]
    said = []
    result = pretrain(tiny(tmp_path, repo, max_steps=20, **MUON_WSD), resume=True, log=said.append)
    assert result.step == 20 and any("resuming from stable-00000009.pt at step 9" in line for line in said)
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(tmp_path / "whole" / "run")))
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl", "train")] == list(range(1, 21))
    assert checkpoint.load(checkpoint.latest(folder))["step"] == 20
    assert [p.name for p in folder.glob("stable-*")] == ["stable-00000015.pt"]
    # Running the same command again (e.g. after a kill) is a plain resume of the finished longer run.
    assert pretrain(tiny(tmp_path, repo, max_steps=20, **MUON_WSD), resume=True, log=lambda _: None).step == 20


def test_a_cosine_run_cannot_change_its_length(tmp_path, repo):
    pretrain(tiny(tmp_path, repo, max_steps=4), log=lambda _: None)
    with pytest.raises(CoveError, match="wsd"):
        pretrain(tiny(tmp_path, repo, max_steps=8), resume=True, log=lambda _: None)


@pytest.mark.parametrize("override, message", [
    ({"optimizer": "sgd"}, "optimizer"),
    ({"schedule": "linear"}, "schedule"),
    ({"decay_share": 0.0}, "decay_share"),
    ({"optimizer": "muon", "fsdp": True}, "fsdp"),
])
def test_bad_optimizer_settings_name_the_problem(override, message):
    with pytest.raises(CoveError, match=message):
        load_config("tiny", overrides=override)
