"""A repository's fine-tuned model: found from any path inside it, with the lowest
precedence above the bundled model (assistant/registry.py, config.resolve_model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import locations, registry
from assistant.config import EngineConfig, resolve_model
from assistant.errors import ModelError


@pytest.fixture
def registered(tmp_path, monkeypatch) -> tuple[Path, Path]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    model = tmp_path / "run" / "model.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF model")
    entry = registry.register(repo, model, {"before": {"exact_mid-line": 0.04}, "after": {"exact_mid-line": 0.09}})
    return repo, Path(entry.model)


def test_a_file_in_the_repository_gets_its_registered_model(registered):
    repo, model = registered
    path, reason = resolve_model(EngineConfig(workspace=repo / "pkg" / "mod.py"))
    assert path == model and str(repo.resolve()) in reason
    assert json.loads(model.with_suffix(".report.json").read_text())["after"]["exact_mid-line"] == 0.09


def test_an_explicit_model_wins_over_the_registered_one(registered, tmp_path):
    repo, _ = registered
    assert resolve_model(EngineConfig(model=tmp_path / "other.gguf", workspace=repo))[0] == tmp_path / "other.gguf"


def test_outside_the_repository_the_bundled_model_is_used(registered, tmp_path):
    assert resolve_model(EngineConfig(workspace=tmp_path))[0] == locations.BUNDLED_MODEL


def test_the_innermost_registered_repository_wins(registered, tmp_path):
    repo, _ = registered
    inner = registry.register(repo / "pkg", tmp_path / "run" / "model.gguf", {})
    assert resolve_model(EngineConfig(workspace=repo / "pkg" / "mod.py"))[0] == Path(inner.model)


def test_a_registered_model_that_is_gone_is_a_one_line_error(registered):
    repo, model = registered
    model.unlink()
    with pytest.raises(ModelError, match="run cove finetune .* again"):
        resolve_model(EngineConfig(workspace=repo))
