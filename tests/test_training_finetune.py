"""`cove finetune`: LoRA on a checkpoint folder or a GGUF, replay, before/after report, merge, resume."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from assistant.errors import CoveError
from training.config import load_config
from training.data import Batches, Stream
from training.finetune import FinetuneConfig, finetune
from test_training_helpers import code_file, write_repo


def user_repo(root: Path) -> Path:
    return write_repo(root, {f"app/h{i}.py": code_file(f"handler{i}", lines=10 + i % 4) for i in range(10)})


def replay_repo(root: Path) -> Path:
    return write_repo(root, {f"lib/u{i}.py": code_file(f"util{i}", lines=6) for i in range(6)})


def config(tmp_path: Path, base: Path, **overrides) -> FinetuneConfig:
    values = {"sources": [str(user_repo(tmp_path / "user"))], "replay_sources": [str(replay_repo(tmp_path / "general"))],
              "base": str(base), "out_dir": str(tmp_path / "run"), "seq_len": 64, "lr": 1e-2, "min_lr": 1e-3,
              "report_line_tasks": 2, "report_humaneval_tasks": 2, "method": "lora", **overrides}
    return load_config("tiny", overrides=values, base=FinetuneConfig)


@pytest.fixture(scope="module", autouse=True)
def data_home(tmp_path_factory):
    """Registrations go to a data folder of the tests' own, never the user's."""
    with mock.patch.dict(os.environ, {"XDG_DATA_HOME": str(tmp_path_factory.mktemp("data"))}):
        yield


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, tiny_model, data_home) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("ft")
    outcome = finetune(config(tmp, tiny_model, merge=True), log=lambda _: None)
    return tmp / "run", outcome


def test_report_compares_base_and_adapted_on_every_metric(finetuned):
    run, outcome = finetuned
    report = json.loads((run / "report.json").read_text())
    editor = {f"{figure}_{kind}" for figure in ("exact", "kept") for kind in ("mid-line", "fresh-line")}
    assert set(report["before"]) == set(report["after"]) == editor | {
        "heldout_loss", "heldout_bits_per_byte", "general_bits_per_byte", "humaneval_single_line_infill"}
    assert set(report["modes"]["before"]) == {"auto", *report["modes"]["after"]}
    assert outcome["after"] == report["after"]


def test_adapting_lowers_the_loss_on_the_users_code(finetuned):
    report = json.loads((finetuned[0] / "report.json").read_text())
    assert report["after"]["heldout_loss"] < report["before"]["heldout_loss"] - 0.1


def test_adapter_and_merged_model_give_the_same_logits(finetuned, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run, _ = finetuned
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(run / "adapter")).eval()
    merged = AutoModelForCausalLM.from_pretrained(run / "merged").eval()
    tokens = torch.arange(30, 60).unsqueeze(0)
    with torch.no_grad():
        torch.testing.assert_close(merged(tokens).logits, adapted(tokens).logits, rtol=1e-4, atol=1e-4)
    assert (run / "merged" / "tokenizer.json").is_file()


def test_only_lora_weights_are_checkpointed(finetuned):
    from training import checkpoint

    state = checkpoint.load(checkpoint.latest(finetuned[0] / "checkpoints"))
    assert state["model"] and all("lora_" in name for name in state["model"])


@pytest.mark.slow
def test_gguf_base_is_dequantized_and_adapted(tmp_path, tiny_gguf):
    outcome = finetune(config(tmp_path, tiny_gguf, max_steps=4, warmup_steps=1, report_line_tasks=0,
                              report_humaneval_tasks=0), log=lambda _: None)
    assert outcome["after"]["heldout_loss"] < outcome["before"]["heldout_loss"]
    assert json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())["r"] == 32
    assert (tmp_path / "run" / "base" / "tokenizer.json").is_file()


class Numbered:
    """Rows that are their own index plus an offset, to see which stream a row came from."""

    seq_len = 3

    def __init__(self, count: int, offset: int) -> None:
        self.count, self.offset = count, offset

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        return np.full(4, self.offset + index)


def test_every_batch_holds_the_replay_share():
    batches = Batches([Stream(Numbered(50, 0), 4), Stream(Numbered(50, 1000), 1)], seed=0)
    for step in range(20):
        rows = np.concatenate([batches.micro_batch(step, m, 1)[:, 0] for m in range(5)])
        assert (rows >= 1000).sum() == 1


@pytest.mark.parametrize("override, message", [
    ({"base": ""}, "no base model"),
    ({"lora_targets": "everything"}, "lora_targets"),
    ({"replay_share": 1.0}, "replay_share"),
    ({"method": "some"}, "method"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_finetune_settings_name_the_problem(tmp_path, override, message):
    with pytest.raises(CoveError, match=message):
        load_config("tiny", overrides={"base": "m.gguf", **override}, base=FinetuneConfig)


def test_base_that_is_no_model_is_a_clear_error(tmp_path):
    with pytest.raises(CoveError, match="neither a transformers checkpoint"):
        finetune(config(tmp_path, tmp_path / "nothing"), log=lambda _: None)


def test_resumed_finetune_replays_the_same_losses(tmp_path, finetuned, tiny_model):
    import shutil

    from training.metrics import read_metrics

    run, _ = finetuned
    shutil.copytree(run, tmp_path / "run")
    (tmp_path / "run" / "checkpoints" / "ckpt-00000012.pt").unlink()
    (tmp_path / "run" / "metrics.jsonl").unlink()
    cfg = config(tmp_path, tiny_model, merge=True)
    finetune(cfg, resume=True, log=lambda _: None)
    first = [r["loss"] for r in read_metrics(run / "metrics.jsonl", "train")][8:]
    again = [r["loss"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl", "train")]
    torch.testing.assert_close(torch.tensor(again), torch.tensor(first))
    assert json.loads((tmp_path / "run" / "report.json").read_text())["before"] == json.loads((run / "report.json").read_text())["before"]


def test_the_default_base_is_the_model_cove_uses_in_the_repository(tmp_path, tiny_gguf, monkeypatch):
    from assistant import locations
    from assistant.registry import register
    from training.commands.finetune import default_base

    monkeypatch.setenv("COVE_CONFIG", os.devnull)
    monkeypatch.delenv("COVE_MODEL", raising=False)
    repository = user_repo(tmp_path / "user")
    assert default_base(str(repository)) == (locations.BUNDLED_MODEL, "bundled default model")
    registered = register(repository, tiny_gguf, {})
    base, reason = default_base(str(repository))
    assert base == Path(registered.model) and reason.startswith("fine-tuned for repository")


def test_a_gguf_base_of_another_architecture_is_refused_naming_the_supported_ones(tmp_path):
    import gguf

    from training.finetune import check_gguf_base

    path = tmp_path / "phi.gguf"
    writer = gguf.GGUFWriter(path, "phi2")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    with pytest.raises(CoveError, match="its architecture is 'phi2'.*llama, qwen2, gemma3, starcoder2"):
        check_gguf_base(path)
