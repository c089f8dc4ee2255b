"""Indentation healing: prompts end at a line start, answers come back for the cursor."""

from __future__ import annotations

import pytest

from assistant.healing import healed, split_indentation, strip_indentation


@pytest.mark.parametrize("prefix, expected", [
    ("def f():\n    ", ("def f():\n", "    ")),
    ("if x:\n\t\t", ("if x:\n", "\t\t")),
    ("  ", ("", "  ")),
])
def test_a_prefix_ending_in_indentation_is_cut_at_the_line_start(prefix, expected):
    assert split_indentation(prefix) == expected


@pytest.mark.parametrize("prefix", ["def f():\n    return ", "def f():\n", "", "x = 1"])
def test_a_prefix_with_text_on_its_last_line_or_none_is_left_alone(prefix):
    assert split_indentation(prefix) == (prefix, "")


@pytest.mark.parametrize("text, expected", [
    ("    return a", "return a"),
    ("        return a\n    x", "    return a\n    x"),
    ("  return a", "return a"),
    ("\treturn a", "return a"),
    ("\n    pass", "\n    pass"),
])
def test_the_users_indentation_comes_off_the_answer(text, expected):
    assert strip_indentation(text, "    ") == expected


def stream(*pieces: str):
    yield from pieces


def test_streamed_answers_lose_the_indentation_across_pieces():
    assert "".join(healed(stream(" ", "  ", " ret", "urn", " a"), "    ")) == "return a"


def test_an_answer_of_less_whitespace_than_the_indentation_adds_nothing():
    assert list(healed(stream(" ", " "), "    ")) == []


def test_closing_the_healed_stream_closes_the_model_stream():
    closed = []

    def model():
        try:
            yield from ("    a", "b", "c")
        finally:
            closed.append(True)

    answer = healed(model(), "    ")
    assert next(answer) == "a"
    answer.close()
    assert closed == [True]


def test_the_indentation_taken_off_is_reported():
    taken = []
    assert "".join(healed(stream("    ", "ret", "urn"), "    ", taken.append)) == "return"
    assert taken == [4]
