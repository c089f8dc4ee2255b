"""The recipe measures the editor's requests on held-out files and records the result in the GGUF."""

import shutil
import sysconfig
from pathlib import Path

import pytest

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.fim import parse_format
from training import evaluate, recipe


def test_the_shipped_gguf_carries_its_measured_modes_and_gate(tiny_gguf, tmp_path, monkeypatch):
    model = tmp_path / "model.gguf"
    shutil.copy(tiny_gguf, model)
    source = Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"
    monkeypatch.setattr(evaluate, "heldout_files", lambda data, repos: [(source.name, source.read_text())])
    measured = recipe.record_editor_measurements(model, tmp_path / "data", per_kind=4)
    engine = Engine.load(EngineConfig(model=model, n_ctx=512))
    try:
        assert set(engine.fim_by_kind) == {"mid-line", "fresh-line"}
        best = {kind: parse_format(mode).name for kind, mode in measured["best_modes"].items()}
        assert {kind: fmt.name for kind, fmt in engine.fim_by_kind.items()} == best
        assert engine.measured_gate == pytest.approx(measured["min_confidence"], abs=1e-4)
    finally:
        engine.close()
