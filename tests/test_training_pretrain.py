"""`cove train` end to end on the tiny preset: golden losses, exact resume, checkpoints, reports."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from assistant.errors import CoveError
from training import checkpoint
from training.config import load_config, preset_names
from training.loop import lr_factor
from training.metrics import read_metrics
from training.pretrain import pretrain
from test_training_helpers import code_file, write_repo

ROOT = Path(__file__).resolve().parents[1]

#: Losses of the tiny preset on `synthetic_repo` (torch 2.13 CPU). Regenerate only on a
#: deliberate change of model, data or schedule: print `losses(run)` and paste.
GOLDEN = [5.95391, 5.91637, 5.85873, 5.7495, 5.69724, 5.59288, 5.53743, 5.45674, 5.48361, 5.36707, 5.32692, 5.32978]


def synthetic_repo(root: Path) -> Path:
    return write_repo(root, {f"src/m{i:02d}.py": code_file(f"n{i:02d}", lines=8 + i % 5) for i in range(16)})


def tiny(tmp_path: Path, repo: Path, **overrides):
    return load_config("tiny", overrides={"sources": [str(repo)], "out_dir": str(tmp_path / "run"), **overrides})


def losses(run: Path) -> list[float]:
    return [r["loss"] for r in read_metrics(run / "metrics.jsonl", "train")]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return synthetic_repo(tmp_path_factory.mktemp("src") / "repo")  # the name is part of every file's key


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, repo) -> Path:
    """One uninterrupted tiny run, shared by the tests that read its outputs."""
    tmp = tmp_path_factory.mktemp("full")
    pretrain(tiny(tmp, repo), log=lambda _: None)
    return tmp / "run"


def test_tiny_run_reproduces_the_golden_losses(finished_run):
    torch.testing.assert_close(torch.tensor(losses(finished_run)), torch.tensor(GOLDEN), rtol=2e-4, atol=2e-4)


def test_first_loss_is_that_of_a_uniform_guess(finished_run):
    vocab = json.loads((finished_run / "model" / "config.json").read_text())["vocab_size"]
    assert abs(losses(finished_run)[0] - math.log(vocab)) < 0.2


def test_run_writes_metrics_plot_model_and_keeps_last_checkpoints(finished_run):
    record = read_metrics(finished_run / "metrics.jsonl", "train")[-1]
    assert record["tokens_per_s"] > 0 and record["step"] == 12
    assert read_metrics(finished_run / "metrics.jsonl", "val")
    assert (finished_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in checkpoint.checkpoints(finished_run / "checkpoints")] == ["ckpt-00000008.pt", "ckpt-00000012.pt"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert AutoModelForCausalLM.from_pretrained(finished_run / "model").config.num_hidden_layers == 2
    assert AutoTokenizer.from_pretrained(finished_run / "model").convert_tokens_to_ids("<fim_middle>") is not None


def test_checkpoint_holds_the_full_state(finished_run):
    state = checkpoint.load(checkpoint.latest(finished_run / "checkpoints"))
    assert state["step"] == 12 and state["rows_seen"] == 12 * 4
    assert {"model", "optimizer", "scheduler", "rng", "config"} <= set(state)
    assert state["config"]["n_layers"] == 2


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_losses(tmp_path, repo):
    """SIGTERM part-way: the run saves and stops; --resume finishes it with the uninterrupted losses."""
    steps = 60  # long enough that the signal always lands mid-run
    pretrain(tiny(tmp_path / "whole", repo, max_steps=steps), log=lambda _: None)
    command = [sys.executable, "-m", "assistant", "train", str(repo), "--preset", "tiny", "--out", str(tmp_path / "run"),
               "--max-steps", str(steps), "--set", "ckpt_every=1000"]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and len(read_metrics(metrics, "train")) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 130, output
    stopped = checkpoint.latest(tmp_path / "run" / "checkpoints")
    assert stopped is not None and checkpoint.load(stopped)["step"] < steps
    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(tmp_path / "whole" / "run")))


def torchrun(repo: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`cove train` on the tiny preset in 2 CPU processes (gloo)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "assistant", "train", str(repo), "--preset", "tiny", "--out", str(out), *extra]
    result = subprocess.run(command, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cpu x 2" in result.stdout
    return result


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path, repo, finished_run):
    """DDP: micro-batch 2 in each of 2 processes vs 1 process accumulating 2 micro-batches."""
    torchrun(repo, tmp_path / "run")
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(finished_run)))


@pytest.mark.slow
def test_sharded_training_matches_one_process_and_resumes(tmp_path, repo, finished_run):
    """FSDP over 2 processes: the same losses and weights; a resume from its step-8 checkpoint replays 9-12 exactly."""
    from transformers import AutoModelForCausalLM

    torchrun(repo, tmp_path / "run", "--set", "fsdp=true")
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(finished_run)))
    tokens = torch.arange(10, 40).unsqueeze(0)
    sharded, single = (AutoModelForCausalLM.from_pretrained(run / "model") for run in (tmp_path / "run", finished_run))
    torch.testing.assert_close(sharded(tokens).logits, single(tokens).logits)
    (tmp_path / "run" / "checkpoints" / "ckpt-00000012.pt").unlink()
    (tmp_path / "run" / "metrics.jsonl").unlink()
    torchrun(repo, tmp_path / "run", "--set", "fsdp=true", "--resume")
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(finished_run)[8:]))


def test_resuming_a_finished_run_reports_its_last_validation_loss(tmp_path, repo, finished_run):
    """`make model` re-run after a stop resumes a run that trains no more steps: its record keeps the loss."""
    import shutil

    shutil.copytree(finished_run, tmp_path / "run")
    result = pretrain(tiny(tmp_path, repo), resume=True, log=lambda _: None)
    assert result.step == 12
    assert result.val_loss == read_metrics(finished_run / "metrics.jsonl", "val")[-1]["loss"]


def test_resume_with_changed_settings_is_refused(tmp_path, repo, finished_run):
    import shutil

    shutil.copytree(finished_run, tmp_path / "run")
    with pytest.raises(CoveError, match="lr"):
        pretrain(tiny(tmp_path, repo, lr=1e-2), resume=True, log=lambda _: None)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, repo):
    with pytest.raises(CoveError, match="no checkpoint"):
        pretrain(tiny(tmp_path, repo), resume=True, log=lambda _: None)


def test_keep_last_deletes_older_checkpoints(tmp_path):
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, {"x": torch.tensor([step])}, keep_last=2)
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_rng_state_round_trips():
    state = checkpoint.rng_state()
    first = torch.rand(3)
    checkpoint.set_rng_state(state)
    torch.testing.assert_close(torch.rand(3), first)


def test_schedule_warms_up_then_decays_to_min_lr():
    cfg = load_config("tiny", overrides={"max_steps": 100, "warmup_steps": 10, "lr": 1.0, "min_lr": 0.1})
    factors = [lr_factor(s, cfg) for s in range(100)]
    assert factors[:10] == sorted(factors[:10]) and factors[9] < 1.0
    assert factors[10] == pytest.approx(1.0) and factors[10:] == sorted(factors[10:], reverse=True)
    assert lr_factor(100, cfg) == pytest.approx(0.1)


@pytest.mark.parametrize("name, millions", [("tiny", None), ("cpu", 10), ("gpu-50m", 50), ("gpu-150m", 150)])
def test_every_preset_loads_and_has_its_size(name, millions):
    from training.model import llama_config
    from transformers import LlamaForCausalLM

    cfg = load_config(name)
    with torch.device("meta"):
        model = LlamaForCausalLM(llama_config(cfg, cfg.vocab_size))
    params = sum(p.numel() for p in model.parameters()) / 1e6
    if millions is not None:
        assert 0.8 * millions <= params <= 1.25 * millions


def test_every_shipped_preset_loads():
    assert {"tiny", "cpu", "gpu-50m", "gpu-150m"} <= set(preset_names())
    for name in preset_names():
        assert load_config(name).seq_len >= 1


@pytest.mark.parametrize("override, message", [
    ({"global_batch": 5}, "multiple of micro_batch"),
    ({"mixture": {"causal": 0.5, "prefix_lm": 0.5}}, "mixture"),
    ({"dim": 30}, "divide by n_heads"),
    ({"fim_line_share": 1.5}, "fim_line_share"),
    ({"bogus": 1}, "unknown setting"),
])
def test_bad_settings_name_the_problem(override, message):
    with pytest.raises(CoveError, match=message):
        load_config("tiny", overrides=override)


@pytest.mark.parametrize("command, flag", [("train", "--resume"), ("finetune", "--replay"), ("eval", "--humaneval")])
def test_help_needs_no_torch(command, flag):
    code = ("import sys, contextlib, io\nfrom assistant.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    try: main([{command!r}, '--help'])\n    except SystemExit: pass\n"
            f"assert {flag!r} in out.getvalue() and 'examples:' in out.getvalue(), out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'peft')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_metrics_are_mirrored_to_tensorboard(tmp_path):
    from training.metrics import MetricsLog

    log = MetricsLog(tmp_path / "metrics.jsonl", tensorboard=True)
    log.write("train", 1, loss=2.5)
    log.close()
    assert read_metrics(tmp_path / "metrics.jsonl", "train")[0]["loss"] == 2.5
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_missing_repository_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "assistant", "train", str(tmp_path / "nowhere"), "--preset", "tiny",
                             "--out", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not a folder" in result.stderr


@pytest.mark.slow
def test_compiled_training_gives_the_eager_losses(tmp_path, repo, finished_run):
    pretrain(tiny(tmp_path, repo, compile=True, max_steps=12), log=lambda _: None)
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(finished_run)), rtol=1e-4, atol=1e-4)


def test_run_records_its_settings_versions_and_commit(finished_run):
    record = json.loads((finished_run / "run.json").read_text())
    assert record["config"]["n_layers"] == 2
    assert record["provenance"]["torch"] in torch.__version__
    assert len(record["provenance"]["git"]) in (40, len("unknown"))


def test_gradient_checkpointing_gives_the_same_losses(tmp_path, repo, finished_run):
    pretrain(tiny(tmp_path, repo, gradient_checkpointing=True), log=lambda _: None)
    torch.testing.assert_close(torch.tensor(losses(tmp_path / "run")), torch.tensor(losses(finished_run)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where there is no GPU")
def test_asking_for_a_missing_gpu_is_a_clear_error(tmp_path, repo):
    with pytest.raises(CoveError, match="no CUDA GPU"):
        pretrain(tiny(tmp_path, repo, device="cuda"), log=lambda _: None)
