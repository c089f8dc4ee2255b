"""`auto` follows the infill mode a model measured best for each kind of editor request."""

import shutil

import pytest

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.stopping import StopRules
from convert.metadata import write_best_modes


@pytest.fixture(scope="module")
def measured_gguf(tiny_gguf, tmp_path_factory):
    path = tmp_path_factory.mktemp("modes") / "tiny-modes.gguf"
    shutil.copy(tiny_gguf, path)
    write_best_modes(path, {"mid-line": "spm:starcoder", "fresh-line": "codegen2"})
    return path


def load(path, fim_format="auto"):
    return Engine.load(EngineConfig(model=path, n_ctx=256, fim_format=fim_format))


def test_each_request_kind_gets_its_measured_mode(measured_gguf):
    engine = load(measured_gguf)
    try:
        assert engine.format_for("total = comp").name == "spm:starcoder"
        assert engine.format_for("def f():\n    ").name == "codegen2"
        generation = engine.infill("total = comp", "\n", stop=StopRules(max_tokens=2))
        generation.result()
        assert generation.stats.format == "spm:starcoder"
    finally:
        engine.close()


def test_an_explicit_format_wins_over_the_measurement(measured_gguf):
    engine = load(measured_gguf, "psm:starcoder")
    try:
        assert engine.format_for("total = comp").name == "psm:starcoder"
    finally:
        engine.close()


def test_a_recorded_mode_the_model_cannot_run_is_ignored(tiny_gguf, tmp_path):
    path = tmp_path / "tiny-qwen-mode.gguf"
    shutil.copy(tiny_gguf, path)
    write_best_modes(path, {"mid-line": "psm:qwen"})
    engine = load(path)
    try:
        assert engine.format_for("total = comp").name == "psm:starcoder"
    finally:
        engine.close()


def test_writing_modes_keeps_the_model_loadable_and_unknown_kinds_are_refused(measured_gguf):
    with pytest.raises(ValueError, match="unknown request kinds"):
        write_best_modes(measured_gguf, {"somewhere": "ltr"})
    engine = load(measured_gguf)
    try:
        assert engine.infill("x = ", "\n", stop=StopRules(max_tokens=2)).result() is not None
    finally:
        engine.close()


def test_a_measured_gate_travels_in_the_gguf(tiny_gguf, tmp_path):
    from lsp.backends import LocalBackend
    from lsp.settings import DEFAULT_MIN_CONFIDENCE

    path = tmp_path / "tiny-gate.gguf"
    shutil.copy(tiny_gguf, path)
    plain = load(path)
    try:
        assert plain.measured_gate is None and LocalBackend(plain).min_confidence == DEFAULT_MIN_CONFIDENCE
    finally:
        plain.close()
    write_best_modes(path, {}, min_confidence=0.45)
    engine = load(path)
    try:
        assert engine.measured_gate == pytest.approx(0.45) and LocalBackend(engine).min_confidence == pytest.approx(0.45)
    finally:
        engine.close()
