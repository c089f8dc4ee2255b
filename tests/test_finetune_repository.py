"""`cove finetune REPO` as a user runs it: the documented commands end in a GGUF registered
for the repository, full fine-tuning and LoRA alike, within a time budget, and the
language server started in that repository uses it (pytest-lsp over stdio)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from assistant import registry
from assistant.cli import main
from test_training_helpers import code_file, write_repo

#: One data folder for this module's registrations and the language servers that read them.
DATA_HOME = tempfile.mkdtemp(prefix="cove-finetune-test-")
#: Small and quick: two steps, one editor request per kind, a handful of replay files.
QUICK = ["--preset", "tiny", "--max-steps", "2", "--set", "report_line_tasks=1", "--set", "seq_len=64"]


def repository(root: Path) -> Path:
    return write_repo(root, {f"app/h{i}.py": code_file(f"handler{i}", lines=10 + i % 4) for i in range(8)})


def general(root: Path) -> Path:
    return write_repo(root, {f"lib/u{i}.py": code_file(f"util{i}", lines=6) for i in range(6)})


def finetune_cli(tmp: Path, base: Path, *extra: str) -> tuple[int, Path]:
    repo = repository(tmp / "repo")
    argv = ["finetune", str(repo), "--base", str(base), "--replay", str(general(tmp / "general")),
            "--out", str(tmp / "run"), *QUICK, *extra]
    with mock.patch.dict(os.environ, {"XDG_DATA_HOME": DATA_HOME}):
        return main(argv), repo


@pytest.mark.parametrize("merge", [False, True], ids=["plain", "merge"])
@pytest.mark.parametrize("base_kind", ["gguf", "folder"])
def test_documented_commands_end_in_a_registered_gguf(tmp_path, tiny_model, tiny_gguf, base_kind, merge, capsys):
    base = tiny_gguf if base_kind == "gguf" else tiny_model
    code, repo = finetune_cli(tmp_path, base, "--method", "lora", *(["--merge"] if merge else []))
    out = capsys.readouterr()
    assert code == 0 and "Traceback" not in out.err, out.err[-2000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["registered"] == [str(repo.resolve())]
    assert {"exact_mid-line", "kept_fresh-line", "general_bits_per_byte"} <= set(report["after"])
    assert "rest-of-line exact, mid-line" in out.out
    assert (tmp_path / "run" / "merged").is_dir() == merge
    with mock.patch.dict(os.environ, {"XDG_DATA_HOME": DATA_HOME}):
        model = Path(registry.registration_for(repo / "app" / "h1.py").model)
    assert model.is_file() and model.read_bytes()[:4] == b"GGUF"


def test_the_best_infill_modes_and_their_gate_are_written_into_the_gguf(tmp_path, tiny_gguf):
    import gguf

    from assistant.fim import GATE_KEY, MODE_KEYS

    finetune_cli(tmp_path, tiny_gguf)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    reader = gguf.GGUFReader(report["model"])
    assert {kind: reader.get_field(key).contents() for kind, key in MODE_KEYS.items()} == report["best_modes"]
    assert reader.get_field(GATE_KEY).contents() == pytest.approx(report["min_confidence"])


def test_the_time_budget_stops_training_and_still_ends_in_a_model(tmp_path, tiny_gguf):
    code, repo = finetune_cli(tmp_path, tiny_gguf, "--max-steps", "100000", "--minutes", "0.002")
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert code == 0 and report["training"]["steps"] < 100
    assert Path(report["model"]).is_file() and report["registered"] == [str(repo.resolve())]


SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "assistant", "lsp"],
    server_env={**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": "", "XDG_DATA_HOME": DATA_HOME},
)


@pytest.fixture(scope="module", params=["full", "lora"])
def registered(request, tmp_path_factory, tiny_gguf) -> tuple[str, Path, Path]:
    """A repository fine-tuned with one method; its registered model."""
    tmp = tmp_path_factory.mktemp(request.param)
    code, repo = finetune_cli(tmp, tiny_gguf, "--method", request.param)
    assert code == 0
    report = json.loads((tmp / "run" / "report.json").read_text())
    assert report["training"]["method"] == request.param
    with mock.patch.dict(os.environ, {"XDG_DATA_HOME": DATA_HOME}):
        return request.param, repo, Path(registry.registration_for(repo).model)


@pytest_lsp.fixture(config=SERVER)
async def bare(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_the_language_server_uses_the_model_registered_for_its_workspace(bare: LanguageClient, registered):
    _, repo, model = registered
    await bare.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"), root_uri=repo.as_uri(),
        initialization_options={"minConfidence": 0}))
    for _ in range(300):  # the model loads after `initialized` (and the settings pull)
        status = await bare.workspace_execute_command_async(types.ExecuteCommandParams(command="cove.status"))
        if status["backend"] or status["loadError"]:
            break
        await asyncio.sleep(0.1)
    assert model.name in (status["backend"] or ""), status["loadError"]
    assert status["settings"]["workspace"] == str(repo)


def test_complete_uses_the_model_registered_for_the_files_repository(registered, tiny_gguf, capsys):
    _, repo, _ = registered
    with mock.patch.dict(os.environ, {"XDG_DATA_HOME": DATA_HOME, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""}):
        assert main(["complete", str(repo / "app" / "h1.py"), "--line", "4", "--col", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == f"{tiny_gguf.stem}+repo"
