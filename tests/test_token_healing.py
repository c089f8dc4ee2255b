"""Token healing: a cursor inside a word is asked from the word's last token boundary."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.stopping import StopRules
from assistant.token_healing import TokenHealer, Vocabulary, choose, without_head

PIECES = [b"", b"jo", b"join", b"job", b"j", b" jo", b"joint", b"x", b"jp"]


def test_the_tokens_starting_with_the_removed_text_are_found():
    assert sorted(Vocabulary.of(PIECES).starting_with(b"jo").tolist()) == [1, 2, 3, 6]


def test_a_head_no_token_starts_with_finds_none():
    assert Vocabulary.of(PIECES).starting_with(b"zz").tolist() == []


def test_a_head_that_starts_most_of_the_vocabulary_is_found_whole():
    pieces = [b" " + bytes([65 + i % 26]) * (1 + i // 26) for i in range(5000)] + [b"a", b"!"]
    assert len(Vocabulary.of(pieces).starting_with(b" ")) == 5000


def test_control_tokens_are_never_allowed():
    assert 0 not in Vocabulary.of(PIECES).starting_with(b"").tolist()


def test_the_index_is_kept_on_disk_and_read_back_without_asking_the_model(tmp_path):
    asked = []

    def piece(token: int) -> bytes:
        asked.append(token)
        return PIECES[token]

    cache = tmp_path / "vocabulary" / "model.npz"
    TokenHealer(lambda text: [1], piece, len(PIECES), cache).close()
    assert cache.is_file() and len(asked) == len(PIECES)
    asked.clear()
    healer = TokenHealer(lambda text: [1], piece, len(PIECES), cache)
    head, allowed = healer.split("x = jo")
    assert head == "jo" and sorted(allowed.tolist()) == [1, 2, 3, 6]
    assert asked == [1]  # the prefix's last token only


def test_a_damaged_index_file_is_built_again(tmp_path):
    cache = tmp_path / "model.npz"
    cache.write_bytes(b"not a zip")
    healer = TokenHealer(lambda text: [1], PIECES.__getitem__, len(PIECES), cache)
    assert sorted(healer.split("x = jo")[1].tolist()) == [1, 2, 3, 6]


def test_the_likeliest_allowed_token_is_chosen_with_its_share_of_the_allowed_odds():
    logits = np.array([9.0, 1.0, 2.0, 0.0], dtype=np.float32)
    token, logprob = choose(logits, np.array([1, 2, 3]))
    assert token == 2
    assert logprob == pytest.approx(2.0 - np.log(np.exp([1.0, 2.0, 0.0]).sum()))


def stream(*pieces):
    yield from pieces


def test_the_written_again_head_comes_off_the_answer():
    assert "".join(without_head(stream("j", "oin(", "a, b)"), "jo")) == "in(a, b)"


def test_an_answer_that_ends_inside_the_head_adds_nothing():
    assert list(without_head(stream("j"), "jo")) == []


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    engine = Engine.load(EngineConfig(model=tiny_gguf, n_ctx=512, fim_format="ltr"))
    yield engine
    engine.close()


def test_a_cursor_inside_a_word_is_asked_without_its_last_token(engine):
    prefix = "import os\n\npath = os.path.jo"
    head = engine.detokenize(engine.tokenize(prefix)[-1:])
    generation = engine.infill(prefix, "\n", stop=StopRules(max_tokens=3))
    generation.result()
    prompt = engine.encode(engine.fim.layout(prefix[:-len(head)], ""))
    assert generation.stats.prompt_tokens == len(prompt)
    first = engine._llama._input_ids[len(prompt)]
    assert engine.detokenize([first]).startswith(head)


def test_the_answer_does_not_repeat_what_was_typed(engine):
    prefix = "import os\n\npath = os.path.jo"
    head = engine.detokenize(engine.tokenize(prefix)[-1:])
    generation = engine.infill(prefix, "\n", stop=StopRules(max_tokens=3))
    text = generation.result()
    written = engine.detokenize(engine._llama._input_ids[generation.stats.prompt_tokens:][:1])
    assert text.startswith(written[len(head):])


def test_a_fresh_line_is_not_token_healed(engine):
    prefix = "def f():\n    "
    generation = engine.infill(prefix, "\n", stop=StopRules(max_tokens=2))
    generation.result()
    assert generation.stats.prompt_tokens == len(engine.encode(engine.fim.layout("def f():\n", "")))


def test_the_config_file_turns_healing_off(tmp_path, monkeypatch):
    from assistant.config import load_engine_config

    (tmp_path / "config.toml").write_text("[engine]\ntoken_healing = false\n")
    monkeypatch.setenv("COVE_CONFIG", str(tmp_path / "config.toml"))
    assert load_engine_config()[0].token_healing is False


def test_a_healing_setting_that_is_not_true_or_false_is_refused():
    from assistant.errors import CoveError

    with pytest.raises(CoveError, match="token_healing 'no' must be true or false"):
        EngineConfig(token_healing="no")


def test_only_the_most_recently_used_indexes_are_kept(tmp_path, monkeypatch):
    import os

    from assistant import token_healing

    monkeypatch.setattr(token_healing, "KEEP_INDEXES", 2)
    for age, name in enumerate(("old", "older", "oldest")):
        (tmp_path / f"{name}.npz").write_bytes(b"")
        os.utime(tmp_path / f"{name}.npz", (1000 - age, 1000 - age))
    TokenHealer(lambda text: [1], PIECES.__getitem__, len(PIECES), tmp_path / "new.npz").close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.npz", "old.npz"]


def test_the_head_taken_off_is_reported():
    taken = []
    assert "".join(without_head(stream("join", "("), "jo", taken.append)) == "in("
    assert taken == [2]


def test_tokens_that_wrote_only_healed_text_show_no_characters():
    from assistant.confidence import shown

    tokens = [(4, -0.1), (7, -0.2), (2, -0.3), (5, -0.4)]  # "    ", " return", " a", " + b"
    assert shown(tokens, len("return a"), healed_chars=5) == ((0, -0.1), (6, -0.2), (2, -0.3))


def test_the_engine_reports_the_healed_text_its_first_token_wrote_again(engine):
    prefix = "import os\n\npath = os.path.jo"
    head = engine.detokenize(engine.tokenize(prefix)[-1:])
    generation = engine.infill(prefix, "\n", stop=StopRules(max_tokens=3))
    generation.result()
    assert generation.stats.healed_chars == len(head)
