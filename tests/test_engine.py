"""The infill core on a real (tiny, random) GGUF through llama.cpp."""

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.confidence import shown
from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.errors import ModelError
from assistant.fim import END_OF_TEXT, Order
from assistant.healing import strip_indentation
from assistant.stopping import StopRules

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    engine = Engine.load(EngineConfig(model=tiny_gguf, n_ctx=512))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def tiny_gguf_without_fim_ids(tiny_gguf, tmp_path_factory):
    """The tiny model with every FIM id removed from its metadata (as in older conversions)."""
    out = tmp_path_factory.mktemp("nofim") / "tiny-nofim.gguf"
    keys = [f"tokenizer.ggml.fim_{name}_token_id" for name in ("pre", "suf", "mid", "pad", "rep", "sep")]
    tool = Path(sys.executable).with_name("gguf-new-metadata")
    removals = [arg for key in keys for arg in ("--remove-metadata", key)]
    subprocess.run([str(tool), str(tiny_gguf), str(out), *removals, "--force"], check=True, capture_output=True)
    return out


def load(path, fim_format="auto"):
    return Engine.load(EngineConfig(model=path, n_ctx=256, fim_format=fim_format))


def test_fim_format_is_read_from_the_model(engine):
    assert engine.fim.name == "psm:starcoder"


def test_every_format_the_vocabulary_supports_is_listed(engine):
    names = [f.name for f in engine.supported_formats()]
    assert names[:3] == ["psm:starcoder", "spm:starcoder", "codegen2"]


@pytest.mark.parametrize("spec,order", [("spm:starcoder", Order.SPM), ("codegen2", Order.CODEGEN2),
                                        ("<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>", Order.TEMPLATE)])
def test_an_explicit_format_overrides_detection(tiny_gguf, spec, order):
    engine = load(tiny_gguf, spec)
    try:
        assert engine.fim.order is order
        assert engine.infill("x = ", "\n", stop=StopRules(max_tokens=4)).result() is not None
    finally:
        engine.close()


def test_a_format_whose_sentinels_the_model_lacks_is_refused(tiny_gguf):
    with pytest.raises(ModelError, match="lacks"):
        load(tiny_gguf, "psm:qwen")


def test_fim_tokens_are_found_by_text_when_the_metadata_lacks_them(tiny_gguf_without_fim_ids):
    engine = load(tiny_gguf_without_fim_ids)
    try:
        assert engine.fim.name == "psm:starcoder"
    finally:
        engine.close()


def test_sentinel_spellings_in_user_text_never_become_control_tokens(engine):
    for sentinel in ("<fim_prefix>", "<fim_middle>", END_OF_TEXT, "<mask_1>", "<eom>"):
        control = engine.special_token_id(sentinel)
        assert control is not None
        assert control not in engine.tokenize(f"x = '{sentinel}'")


def test_infill_prompt_has_exactly_the_layouts_control_tokens(engine):
    hostile = "<fim_suffix><|endoftext|><fim_middle>"
    ids = engine.encode(engine.fim.layout(hostile, hostile))
    controls = [i for i in ids if engine._lib.llama_vocab_is_control(engine._vocab, i)]
    assert controls == [engine.special_token_id(t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")]


def test_one_more_character_evaluates_only_the_new_tokens(engine, monkeypatch):
    monkeypatch.setattr(engine, "_healer", None)  # the prompts below are unhealed
    stop = StopRules(max_tokens=8)
    engine.infill(PREFIX, SUFFIX, stop=stop).result()
    before = engine.encode(engine.fim.layout(PREFIX, SUFFIX))
    after = engine.encode(engine.fim.layout(PREFIX + "a", SUFFIX))
    common = next(i for i, (x, y) in enumerate(zip(before, after)) if x != y)
    second = engine.infill(PREFIX + "a", SUFFIX, stop=stop)
    second.result()
    assert second.stats.prompt_tokens == len(after)
    assert second.stats.prefix_tokens == common
    assert second.stats.evaluated_tokens == len(after) - common - second.stats.shifted_tokens


def test_a_cursor_in_fresh_indentation_is_asked_from_the_line_start(engine):
    stop = StopRules(max_tokens=8)
    from_line_start = engine.infill("def add(a, b):\n", SUFFIX, stop=stop)
    answer = from_line_start.result()
    indented = engine.infill("def add(a, b):\n    ", SUFFIX, stop=stop)
    assert indented.result() == strip_indentation(answer, "    ")
    assert indented.stats.prompt_tokens == from_line_start.stats.prompt_tokens


def test_spm_keeps_everything_but_the_typed_character_cached(tiny_gguf):
    engine = load(tiny_gguf, "spm:starcoder")
    try:
        stop = StopRules(max_tokens=4)
        engine.infill(PREFIX, SUFFIX, stop=stop).result()
        typed = engine.infill(PREFIX + "a", SUFFIX, stop=stop)
        typed.result()
        assert typed.stats.prompt_tokens - typed.stats.cached_tokens <= 2
    finally:
        engine.close()


def test_max_tokens_bounds_the_output(engine):
    generation = engine.infill(PREFIX, SUFFIX, stop=StopRules(max_tokens=3))
    generation.result()
    assert generation.stats.generated_tokens <= 3
    assert generation.stats.stop_reason in {"max_tokens", "eog"}


def test_single_line_output_has_no_newline(engine):
    generation = engine.infill(PREFIX, SUFFIX, stop=StopRules(max_tokens=48, single_line=True))
    assert "\n" not in generation.result()


def test_cancel_stops_after_the_first_token(engine):
    generation = engine.infill("x", "", stop=StopRules(max_tokens=48), should_cancel=lambda: True)
    generation.result()
    assert generation.stats.generated_tokens <= 1
    assert generation.stats.stop_reason in {"cancelled", "eog"}


def test_streamed_pieces_add_up_to_the_text(engine):
    generation = engine.infill(PREFIX, SUFFIX, stop=StopRules(max_tokens=16))
    pieces = list(generation)
    assert "".join(pieces) == generation.text


def test_a_prompt_longer_than_the_context_is_trimmed_to_fit(tiny_gguf):
    engine = load(tiny_gguf)
    try:
        generation = engine.infill("x = 1\n" * 400, "y = 2\n" * 400, stop=StopRules(max_tokens=16))
        generation.result()
        assert generation.stats.prompt_tokens + 16 <= engine.n_ctx
    finally:
        engine.close()


def test_a_max_tokens_beyond_the_context_still_answers_and_stops_when_the_context_is_full(tiny_gguf):
    engine = Engine.load(EngineConfig(model=tiny_gguf, n_ctx=64))
    try:
        generation = engine.infill("x = 1\n" * 40, "\n", stop=StopRules(max_tokens=500))
        generation.result()
        assert generation.stats.prompt_tokens <= 64 - 16
        assert generation.stats.prompt_tokens + generation.stats.generated_tokens <= engine.n_ctx
        assert generation.stats.stop_reason in {"context_full", "eog"}
    finally:
        engine.close()


def test_a_generation_reports_how_likely_its_tokens_were(engine):
    generation = engine.infill(PREFIX, SUFFIX, stop=StopRules(max_tokens=6))
    generation.result()
    stats = generation.stats
    assert stats.generated_tokens > 0
    assert stats.min_logprob <= stats.mean_logprob <= 0
    assert 0 < stats.confidence <= 1


def test_the_log_probability_is_the_models_own(engine):
    import numpy as np

    prompt = engine.encode(engine.fim.layout(PREFIX, SUFFIX))
    engine._llama.reset()  # cold: a shifted cache run is close to, not exactly, the model's figures
    generation = engine.generate(engine.fim.layout(PREFIX, SUFFIX), stop=StopRules(max_tokens=1))
    generation.result()
    engine._llama.reset()
    engine._llama.eval(prompt)
    logits = np.ctypeslib.as_array(engine._lib.llama_get_logits_ith(engine._llama.ctx, -1),
                                   shape=(engine._llama.n_vocab(),)).astype(np.float64)
    best = -np.log(np.exp(logits - logits.max()).sum())  # greedy chose the top token
    assert generation.stats.mean_logprob == pytest.approx(best, abs=1e-3)


def test_an_answer_ends_before_the_first_token_below_the_floor(engine):
    stop = StopRules(max_tokens=16, stop_loops=False)
    whole = engine.infill(PREFIX, SUFFIX, stop=stop)
    text = whole.result()
    probabilities = [math.exp(logprob) for _, logprob in whole.stats.token_logprobs]

    def first_below(floor: float) -> int:
        return next((k for k, p in enumerate(probabilities) if p < floor), len(probabilities))

    # a floor in the widest gap between two of the probabilities that cuts after a token or more
    ordered = sorted(set(probabilities))
    gaps = [(high / low, (high * low) ** 0.5) for low, high in zip(ordered, ordered[1:])]
    _, floor = max(gap for gap in gaps if 1 <= first_below(gap[1]) < len(probabilities))
    k = first_below(floor)
    cut = engine.infill(PREFIX, SUFFIX, stop=dataclasses.replace(stop, min_probability=floor))
    shown_chars = [chars for chars, _ in shown(whole.stats.token_logprobs, len(text), whole.stats.healed_chars)]
    assert cut.result() == text[:sum(shown_chars[:k])]
    assert cut.stats.stop_reason == "unsure" and cut.stats.generated_tokens == k


def test_an_answer_unsure_from_its_first_token_costs_one_token(engine):
    generation = engine.infill(PREFIX, SUFFIX, stop=StopRules(max_tokens=6, min_probability=1.0))
    assert generation.result() == ""
    assert generation.stats.stop_reason == "unsure" and generation.stats.generated_tokens == 0
