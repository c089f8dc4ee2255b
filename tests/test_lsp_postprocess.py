"""Clean-up of model output: stops, block ends, brackets, suffix repeats, whitespace."""

from __future__ import annotations

import pytest

from lsp.postprocess import (
    Rules, balance_brackets, block_end, drop_garbage, drop_repeated_lines, finish, rules_for, trim_suffix_overlap,
)

SINGLE = Rules(single_line=True, stop_texts=())
MULTI = Rules(single_line=False, stop_texts=("\n\n",))


def test_mid_line_cursor_gets_single_line_rules():
    assert rules_for("x = f(", "a)", multiline=True, max_chars_after_cursor=8).single_line


def test_end_of_line_cursor_gets_multi_line_rules_that_stop_at_a_blank_line():
    assert rules_for("def f():", "", multiline=True, max_chars_after_cursor=8) == MULTI


def test_multiline_off_gives_single_line_everywhere():
    assert rules_for("def f():", "", multiline=False, max_chars_after_cursor=8).single_line


def test_no_completion_inside_a_line_of_text():
    assert rules_for("print(", "value, other_value)", multiline=True, max_chars_after_cursor=8) is None


def test_auto_closed_brackets_after_the_cursor_do_not_block_completion():
    assert rules_for('print("', '")', multiline=True, max_chars_after_cursor=0) is not None


def test_single_line_output_is_cut_at_the_newline():
    assert finish("a + b\nprint(x)", prefix="y = ", suffix="", line_prefix="y = ", rules=SINGLE) == "a + b"


def test_multi_line_output_is_cut_at_a_blank_line():
    text = "    x = 1\n    return x\n\ndef g():\n    pass"
    assert finish(text, prefix="def f():\n", suffix="", line_prefix="", rules=MULTI) == "    x = 1\n    return x"


def test_block_ends_at_a_dedent_below_the_cursor_line():
    text = "return x\n    y = 2\nclass A:"
    assert block_end(text, "        ") == "return x"


def test_block_ends_when_a_deeper_block_returns_to_the_cursor_level():
    text = "for i in x:\n    total += i\nprint(total)"
    assert block_end(text, "") == "for i in x:\n    total += i"


def test_block_end_keeps_the_closing_brace_of_a_block_it_opened():
    text = "if (x) {\n    y();\n}\nz();"
    assert block_end(text, "") == "if (x) {\n    y();\n}"


def test_lines_already_after_the_cursor_are_not_repeated():
    suffix = "\n    return total\n"
    text = "\n    total = sum(xs)\n    return total"
    assert drop_repeated_lines(text, suffix) == "\n    total = sum(xs)"


def test_the_cursor_line_is_not_written_again_below_itself():
    text = "m(values)\n    assert total == sum(values)\n    return total"
    assert drop_repeated_lines(text, "\n", "    assert total == su") == "m(values)"


def test_a_short_cursor_line_may_come_again():
    text = "}\nif (b) {\n    g();\n}"
    assert drop_repeated_lines(text, "\n", "") == text


@pytest.mark.parametrize(
    ("prefix", "completion", "line_suffix", "expected"),
    [
        ("print(foo(", "a, b))", "))", "a, b"),  # the suffix closes both already
        ("x = f(", "a)", "", "a)"),  # nothing after the cursor: the close is needed
        ("x = f(", "a]", "", "a"),  # closes the wrong bracket
        ("x = ", "1)", "", "1"),  # closes nothing
        ("x = f(", "g(a))", ")", "g(a)"),  # its own bracket is kept, the suffix's is not repeated
    ],
)
def test_brackets_are_balanced_against_the_prefix_and_suffix(prefix, completion, line_suffix, expected):
    assert balance_brackets(completion, prefix, line_suffix) == expected


def test_a_tail_that_repeats_the_suffix_is_trimmed():
    assert trim_suffix_overlap('x = f("a");', '");') == 'x = f("a'


def test_a_tail_of_closing_brackets_is_left_to_bracket_balancing():
    assert trim_suffix_overlap("bar()", ")") == "bar()"


def test_whitespace_only_output_gives_nothing():
    assert finish("  \n\t ", prefix="x = ", suffix="", line_prefix="x = ", rules=MULTI) == ""


def test_finish_combines_the_rules_for_a_mid_line_call():
    result = finish("a, b)\nnext_line()", prefix="total = add(", suffix=")\n", line_prefix="total = add(", rules=SINGLE)
    assert result == "a, b"


@pytest.mark.parametrize("garbage", ["\x0b", "\x1a", "\ufffd", "\u2028", "\x00"])
def test_characters_of_broken_output_are_dropped(garbage):
    assert drop_garbage(f"value{garbage}more") == "valuemore"


def test_tabs_and_newlines_are_not_garbage():
    assert drop_garbage("if x:\n\treturn 1") == "if x:\n\treturn 1"
