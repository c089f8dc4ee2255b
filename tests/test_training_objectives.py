"""The objectives' layouts, token by token, and that every example decodes to its file."""

from __future__ import annotations

import random

import pytest

from assistant.fim import END_OF_TEXT, PROJECT_SPECIAL_TOKENS, STARCODER, CodeGen2, FimFormat, Order
from training.objectives import Mixture, Objective, causal, fim, fim_tokens_for, span_corruption
from training.tokenizer import encode_pieces, load_tokenizer, train_tokenizer
from test_training_helpers import PROJECT_SOURCES

FILE = "x = 1\ny = 2\n"
PSM = FimFormat(Order.PSM, STARCODER)
SPM = FimFormat(Order.SPM, STARCODER)


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    """No merges: every character is one token, so layouts read token by token."""
    folder = train_tokenizer([s.read_text() for s in PROJECT_SOURCES[:2]], tmp_path_factory.mktemp("tok"),
                             vocab_size=256 + len(PROJECT_SPECIAL_TOKENS))
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def bpe_tokenizer(tmp_path_factory):
    folder = train_tokenizer([s.read_text() for s in PROJECT_SOURCES], tmp_path_factory.mktemp("bpe"), vocab_size=600)
    return load_tokenizer(folder)


def tokens(tokenizer, pieces) -> list[str]:
    return [tokenizer.id_to_token(i) for i in encode_pieces(tokenizer, pieces)]


class FixedCuts(random.Random):
    """A Random whose randint/sample return the given cut points: the split under test is explicit."""

    def __init__(self, cuts: list[int]) -> None:
        super().__init__(0)
        self.cuts = list(cuts)

    def randint(self, a: int, b: int) -> int:
        return self.cuts.pop(0)

    def sample(self, population, k):
        taken, self.cuts = self.cuts[:k], self.cuts[k:]
        return taken


def test_causal_is_the_file_then_end_of_text(byte_tokenizer):
    assert tokens(byte_tokenizer, causal("x=1\n")) == ["x", "=", "1", "Ċ", END_OF_TEXT]


def test_psm_token_by_token(byte_tokenizer):
    pieces = fim("x=1\ny\n", FixedCuts([4, 2]), PSM)  # prefix "x=", middle "1\n", suffix "y\n"
    assert tokens(byte_tokenizer, pieces) == [
        "<fim_prefix>", "x", "=", "<fim_suffix>", "y", "Ċ", "<fim_middle>", "1", "Ċ", END_OF_TEXT,
    ]


def test_spm_token_by_token(byte_tokenizer):
    pieces = fim("x=1\ny\n", FixedCuts([2, 4]), SPM)
    assert tokens(byte_tokenizer, pieces) == [
        "<fim_prefix>", "<fim_suffix>", "y", "Ċ", "<fim_middle>", "x", "=", "1", "Ċ", END_OF_TEXT,
    ]


def psm_parts(pieces) -> dict[str, str]:
    """The prefix, suffix and middle texts of a PSM example (empty parts have no piece)."""
    parts, section = {"<fim_prefix>": "", "<fim_suffix>": "", "<fim_middle>": ""}, None
    for piece in pieces:
        if piece.special:
            section = piece.text
        else:
            parts[section] += piece.text
    return {"prefix": parts["<fim_prefix>"], "suffix": parts["<fim_suffix>"], "middle": parts["<fim_middle>"]}


@pytest.mark.parametrize("seed", range(20))
def test_whole_line_middles_run_from_a_line_start_to_a_line_end(seed):
    text = "def f(x):\n    y = x + 1\n\n    return y\n"
    parts = psm_parts(fim(text, random.Random(seed), PSM, line_share=1.0))
    assert parts["prefix"] + parts["middle"] + parts["suffix"] == text
    assert parts["prefix"] == "" or parts["prefix"].endswith("\n")
    assert parts["suffix"].startswith("\n")


def test_line_share_zero_cuts_exactly_as_character_fim():
    text = "alpha = 1\nbeta = 2\n"
    assert fim(text, random.Random(3), PSM, line_share=0.0) == fim(text, random.Random(3), PSM)


def test_psm_with_path_carries_the_repository_context(byte_tokenizer):
    pieces = fim("ab", FixedCuts([1, 1]), PSM, path="p")
    assert tokens(byte_tokenizer, pieces) == [
        "<repo_name>", "w", "o", "r", "k", "s", "p", "a", "c", "e", "Ċ", "<file_sep>", "p", "Ċ",
        "<fim_prefix>", "a", "<fim_suffix>", "b", "<fim_middle>", END_OF_TEXT,
    ]


def test_span_corruption_token_by_token(byte_tokenizer):
    pieces = span_corruption("abcdef", FixedCuts([2, 1, 2, 4, 5]), max_spans=3)  # spans "b" and "e"
    assert tokens(byte_tokenizer, pieces) == [
        "a", "<mask_1>", "c", "d", "<mask_2>", "f", END_OF_TEXT, "<sep>",
        "<mask_1>", "b", "<eom>", "<mask_2>", "e", "<eom>", END_OF_TEXT,
    ]


@pytest.mark.parametrize("order", [Order.PSM, Order.SPM, Order.CODEGEN2])
def test_infill_examples_start_with_the_inference_prompt(order):
    """Training and inference agree: the example is FimFormat.layout + middle + end."""
    fmt = FimFormat(order, STARCODER if order is not Order.CODEGEN2 else None)
    text = "def f(a):\n    return a + 1\n"
    pieces = span_corruption(text, FixedCuts([1, 10, 20]), 1) if order is Order.CODEGEN2 else fim(text, FixedCuts([10, 20]), fmt, path="m.py")
    prompt = fmt.layout(text[:10], text[20:], path=None if order is Order.CODEGEN2 else "m.py")
    end = CodeGen2.EOM if order is Order.CODEGEN2 else END_OF_TEXT
    assert pieces[:len(prompt)] == prompt
    rest = [p.text for p in pieces[len(prompt):]]
    assert rest == [text[10:20], end] + ([END_OF_TEXT] if end != END_OF_TEXT else [])


def segments(tokenizer, ids: list[int]) -> list[tuple[bool, str]]:
    """(is_special, text) runs of a token sequence: special tokens apart, text decoded whole.

    Working on ids, not decoded text, keeps a file that spells `<eom>` from reading as one.
    """
    special = {tokenizer.token_to_id(t) for t in PROJECT_SPECIAL_TOKENS}
    runs: list[tuple[bool, str]] = []
    text: list[int] = []
    for i in ids + [None]:
        if i is None or i in special:
            if text:
                runs.append((False, tokenizer.decode(text)))
                text = []
            if i is not None:
                runs.append((True, tokenizer.id_to_token(i)))
        else:
            text.append(i)
    return runs


def restore(runs: list[tuple[bool, str]], objective: Objective) -> str:
    """The original file from an example's runs (the inverse of each layout)."""
    assert runs[-1] == (True, END_OF_TEXT)
    runs = runs[:-1]

    def after(token: str) -> str:
        index = runs.index((True, token)) + 1
        return runs[index][1] if index < len(runs) and not runs[index][0] else ""

    if objective is Objective.CAUSAL:
        return "".join(text for _, text in runs)
    if objective is Objective.PSM:
        return after(STARCODER.prefix) + after(STARCODER.middle) + after(STARCODER.suffix)
    if objective is Objective.SPM:
        return after(STARCODER.middle) + after(STARCODER.suffix)
    sep = runs.index((True, CodeGen2.SEP))
    masked, answers = runs[:sep - 1], runs[sep + 1:]
    spans = {answers[i][1]: answers[i + 1][1] if not answers[i + 1][0] else "" for i in range(len(answers)) if answers[i][1].startswith("<mask_")}
    return "".join(spans[text] if is_special else text for is_special, text in masked)


@pytest.mark.parametrize("objective", list(Objective))
@pytest.mark.parametrize("seed", range(8))
def test_every_example_decodes_back_to_its_file(bpe_tokenizer, objective, seed):
    text = PROJECT_SOURCES[seed % len(PROJECT_SOURCES)].read_text()[:1500] + "émoji ✓ <|endoftext|> stays text\n"
    mixture = Mixture({objective.value: 1.0}, bpe_tokenizer.get_vocab(), max_spans=4, with_path=False)
    ids = encode_pieces(bpe_tokenizer, mixture.example(objective, text, "m.py", random.Random(seed)))
    assert restore(segments(bpe_tokenizer, ids), objective) == text


def test_file_text_spelling_a_sentinel_is_not_a_control_token(bpe_tokenizer):
    ids = encode_pieces(bpe_tokenizer, causal("<fim_middle>"))
    assert ids.count(bpe_tokenizer.token_to_id("<fim_middle>")) == 0


@pytest.mark.parametrize("seed", range(20))
def test_span_corruption_spans_are_nonempty_and_inside_the_file(seed):
    text = "0123456789" * 3
    pieces = span_corruption(text, random.Random(seed), max_spans=5)
    masks = [p.text for p in pieces if p.text.startswith("<mask_")]
    assert len(masks) % 2 == 0 and 1 <= len(masks) // 2 <= 5
    answers = pieces[pieces.index(next(p for p in pieces if p.text == CodeGen2.SEP)) + 1:]
    spans = [answers[i + 1].text for i in range(0, len(answers) - 1, 3)]
    assert all(span and span in text for span in spans)


def test_mixture_follows_its_shares():
    mixture = Mixture({"causal": 0.5, "psm": 0.5}, set(PROJECT_SPECIAL_TOKENS))
    rng = random.Random(0)
    chosen = [mixture.choose(rng) for _ in range(2000)]
    assert set(chosen) == {Objective.CAUSAL, Objective.PSM}
    assert 900 < chosen.count(Objective.CAUSAL) < 1100


def test_mixture_names_the_missing_sentinel():
    from assistant.errors import CoveError

    with pytest.raises(CoveError, match="<sep>"):
        Mixture({"span": 1.0}, {END_OF_TEXT, "<eom>", "<mask_1>"})


def test_fim_family_is_detected_from_the_vocabulary():
    assert fim_tokens_for(set(PROJECT_SPECIAL_TOKENS)) is STARCODER
    assert fim_tokens_for({"a", "b"}) is None


def test_a_vocabulary_without_sentinels_keeps_only_causal_ended_by_its_eos():
    from training.objectives import Mixture, supported_shares

    gemma_like = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "x": 3}
    shares = supported_shares({"causal": 0.2, "span": 0.3, "psm": 0.25, "spm": 0.25}, gemma_like)
    assert shares == {"causal": 0.2}
    mixture = Mixture(shares, gemma_like)
    assert mixture.example(mixture.choose(random.Random(0)), "x", "m.py", random.Random(0))[-1].text == "<eos>"
