"""The time budget bounds generation after the first token and never cuts the first line."""

import pytest

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.stopping import StopRules


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    engine = Engine.load(EngineConfig(model=tiny_gguf, n_ctx=512))
    yield engine
    engine.close()


@pytest.mark.parametrize("prefix", ["def add(a, b):\n    return ", "import os\n"])
def test_a_spent_budget_still_finishes_the_first_line(engine, prefix):
    """A budget spent before the first token (1 µs) used to cut the answer to one token."""
    generation = engine.infill(prefix, "\n", stop=StopRules(max_tokens=24, time_budget_s=1e-6))
    text = generation.result()
    assert generation.stats.stop_reason != "time" or "\n" in text


def test_generation_after_the_first_line_is_bounded(engine):
    unbounded = engine.generate("def f():\n", stop=StopRules(max_tokens=64))
    unbounded.result()
    bounded = engine.generate("def f():\n", stop=StopRules(max_tokens=64, time_budget_s=1e-6))
    text = bounded.result()
    if "\n" in unbounded.text.rstrip("\n"):
        assert bounded.stats.stop_reason == "time"
        assert text.count("\n") >= 1
        assert bounded.stats.generated_tokens <= unbounded.stats.generated_tokens
