"""A model trained by `cove train` runs in the editor's engine with the format it was trained on.

The path through the whole project: tiny pretrain -> `convert` to GGUF -> llama.cpp
engine. The engine must detect the FIM format the objectives used, and llama.cpp must
tokenize a training example exactly as training did.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from assistant.fim import STARCODER, FimFormat, Order
from training.config import load_config
from training.objectives import fim
from training.pretrain import pretrain
from training.tokenizer import encode_pieces, load_tokenizer
from test_training_helpers import sample_repo


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from assistant.config import EngineConfig
    from assistant.engine import Engine
    from convert.model import convert_checkpoint

    tmp = tmp_path_factory.mktemp("e2e")
    repo = sample_repo(tmp / "repo", count=6)
    cfg = load_config("tiny", overrides={"sources": [str(repo)], "out_dir": str(tmp / "run"), "max_steps": 3})
    pretrain(cfg, log=lambda _: None)
    gguf = convert_checkpoint(tmp / "run" / "model", tmp / "tiny.gguf", "f32", name="cove-trained-tiny")
    loaded = Engine.load(EngineConfig(model=gguf, n_ctx=256))
    yield loaded, tmp / "run" / "model"
    loaded.close()


@pytest.mark.slow
def test_engine_detects_the_trained_fim_format(engine):
    loaded, _ = engine
    assert loaded.fim.order is Order.PSM
    assert (loaded.fim.tokens.prefix, loaded.fim.tokens.suffix, loaded.fim.tokens.middle) == (
        STARCODER.prefix, STARCODER.suffix, STARCODER.middle)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_llama_cpp_tokenizes_training_examples_as_training_did(engine, seed):
    loaded, model_dir = engine
    text = Path(__file__).read_text()[:600]
    pieces = fim(text, random.Random(seed), FimFormat(Order.PSM, STARCODER), path="tests/x.py")
    trained = encode_pieces(load_tokenizer(model_dir), pieces)
    served = [token for piece in pieces
              for token in ([loaded.special_token_id(piece.text)] if piece.special else loaded.tokenize(piece.text))]
    assert served == trained


@pytest.mark.slow
def test_trained_model_fills_in_through_the_engine(engine):
    from assistant.engine import StopRules

    loaded, _ = engine
    generation = loaded.infill("def add(a, b):\n    return ", "\n", stop=StopRules(max_tokens=8), path="m.py")
    generation.result()
    assert generation.stats.generated_tokens <= 8 and generation.stats.prompt_tokens > 5
