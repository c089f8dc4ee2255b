"""From a file and a cursor to prefix and suffix."""

import pytest

from assistant.cursor import cursor_is_mid_line, split_at_marker, split_at_position
from assistant.errors import CoveError

TEXT = "def f():\n    return 1\n"


def test_position_is_one_based_line_and_column():
    assert split_at_position(TEXT, 2, 5) == ("def f():\n    ", "return 1\n")


def test_position_after_the_last_newline_is_the_empty_last_line():
    assert split_at_position(TEXT, 3, 1) == (TEXT, "")


def test_columns_count_characters_not_bytes():
    assert split_at_position("é = 'ü'\n", 1, 3) == ("é ", "= 'ü'\n")


def test_crlf_lines_split_before_the_carriage_return():
    assert split_at_position("a\r\nbc\r\n", 2, 3) == ("a\r\nbc", "\r\n")


@pytest.mark.parametrize("line,col", [(0, 1), (4, 1), (1, 10)])
def test_position_outside_the_text_is_a_clear_error(line, col):
    with pytest.raises(CoveError, match="outside"):
        split_at_position(TEXT, line, col)


def test_marker_splits_the_text():
    assert split_at_marker("a<|cursor|>b") == ("a", "b")


@pytest.mark.parametrize("text", ["no marker", "<|cursor|>twice<|cursor|>"])
def test_marker_must_appear_exactly_once(text):
    with pytest.raises(CoveError, match="exactly once"):
        split_at_marker(text)


def test_code_after_the_cursor_means_mid_line():
    assert cursor_is_mid_line("x)\nnext")
    assert not cursor_is_mid_line("   \nnext")
