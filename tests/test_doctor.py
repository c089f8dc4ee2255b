"""`cove doctor` judges its self-test fill instead of printing "all good" over garbage."""

import pytest

from assistant.commands.doctor import SELF_TEST_PREFIX, SELF_TEST_SUFFIX, judge_fill


def judge(fill: str) -> str | None:
    return judge_fill(SELF_TEST_PREFIX, fill, SELF_TEST_SUFFIX)


def test_a_correct_body_passes():
    assert judge("return a + b") is None


def test_an_empty_fill_is_poor():
    assert "nothing" in judge("   ")


@pytest.mark.parametrize("fill", ["return b\ndef add(a, b):\n    return b", "print(add(1, 2))"])
def test_a_fill_that_writes_the_prompt_again_is_poor(fill):
    assert "repeats" in judge(fill)


def test_a_fill_that_breaks_the_syntax_is_poor():
    assert "does not parse" in judge("return (a +")
