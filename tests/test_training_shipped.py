"""The bundled model's bf16 weights beside its GGUF, and runs that continue from weights (init_from)."""

from __future__ import annotations

import json

import pytest

from assistant import locations
from assistant.errors import CoveError
from training import shipped
from training.config import load_config
from training.pretrain import pretrain
from test_training_pretrain import losses, synthetic_repo, tiny


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return synthetic_repo(tmp_path_factory.mktemp("src") / "repo")


def test_bundled_weights_are_bf16_of_the_bundled_models_shape():
    from safetensors import safe_open

    folder = shipped.WEIGHTS_DIR
    assert folder.parent == locations.BUNDLED_MODEL.parent
    assert shipped.fits(load_config("default-cpu"))  # `make model` continues from them
    assert shipped.fits(load_config("default-gpu"))  # the preset that trained them
    assert not shipped.fits(load_config("cpu"))  # another shape starts afresh
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert {weights.get_slice(name).get_dtype() for name in weights.keys()} == {"BF16"}
    assert (folder / "model.safetensors").stat().st_size < 45e6
    assert json.loads((folder / "tokenizer_config.json").read_text())
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(folder).convert_tokens_to_ids("<fim_middle>") is not None


def test_a_run_continues_from_saved_weights(tmp_path, repo):
    """Started from a finished run's weights, a new run's first loss is the old run's last, not a uniform guess."""
    pretrain(tiny(tmp_path / "first", repo), log=lambda _: None)
    model = tmp_path / "first" / "run" / "model"
    out = tmp_path / "bf16"
    from transformers import AutoModelForCausalLM

    shipped.save_bf16(AutoModelForCausalLM.from_pretrained(model), model, out)
    said = []
    pretrain(tiny(tmp_path / "second", repo, init_from=str(out), tokenizer=str(out)), log=said.append)
    first, second = losses(tmp_path / "first" / "run"), losses(tmp_path / "second" / "run")
    assert any("starting from the weights" in line for line in said)
    assert second[0] < first[0] - 0.3 and abs(second[0] - first[-1]) < 0.3


def test_weights_of_another_shape_are_refused(tmp_path, repo):
    pretrain(tiny(tmp_path / "first", repo), log=lambda _: None)
    model = tmp_path / "first" / "run" / "model"
    with pytest.raises(CoveError, match="does not fit"):
        pretrain(tiny(tmp_path / "second", repo, init_from=str(model), tokenizer=str(model), dim=64),
                 log=lambda _: None)
