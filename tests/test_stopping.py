"""Stop rules over streamed text."""

import pytest

from assistant.stopping import StopRules, StopScanner


def stream(rules: StopRules, chunks: list[str]) -> tuple[str, str | None]:
    scanner = StopScanner(rules)
    out = "".join(scanner.feed(c) for c in chunks)
    if scanner.stopped_by is None:
        out += scanner.flush()
    return out, scanner.stopped_by


def test_single_line_stops_before_the_newline():
    assert stream(StopRules(single_line=True), ["return a", " + b\n", "print()"]) == ("return a + b", "\n")


def test_stop_text_split_across_chunks_is_never_shown():
    scanner = StopScanner(StopRules(stop_texts=("\n\n",)))
    assert scanner.feed("x = 1\n") == "x = 1"
    assert scanner.feed("\ny = 2") == ""
    assert scanner.stopped_by == "\n\n"


def test_held_back_text_is_released_when_it_is_not_a_stop():
    scanner = StopScanner(StopRules(stop_texts=("```",)))
    assert scanner.feed("a`") == "a"
    assert scanner.feed("b") == "`b"


def test_earliest_stop_wins():
    assert stream(StopRules(stop_texts=("END", "\n"), single_line=True), ["a\nbEND"]) == ("a", "\n")


def test_without_stops_everything_passes_through():
    assert stream(StopRules(), ["a\n", "b"]) == ("a\nb", None)


@pytest.mark.parametrize("kwargs", [{"max_tokens": 0}, {"time_budget_s": 0}, {"stop_texts": ("",)}])
def test_rules_reject_impossible_limits(kwargs):
    with pytest.raises(ValueError):
        StopRules(**kwargs)


def tokens(text: str, size: int = 3) -> list[str]:
    """`text` in small pieces, as a model streams it."""
    return [text[i:i + size] for i in range(0, len(text), size)]


def test_a_line_written_twice_in_a_row_keeps_one_copy():
    text = 'print(is_palindrome("hello"))\n' * 30
    out, _ = stream(StopRules(), tokens(text))
    assert out == 'print(is_palindrome("hello"))\n'


def test_a_repeating_block_of_lines_keeps_one_copy():
    block = "def add(a, b):\n    return b\n"
    out, _ = stream(StopRules(), tokens("x = 1\n" + block * 4))
    assert out == "x = 1\n" + block


def test_a_phrase_repeating_inside_a_line_stops_the_line():
    out, _ = stream(StopRules(), tokens("# From the From the From the From the From the"))
    assert out == "# From the"


def test_the_loop_reason_is_reported():
    scanner = StopScanner(StopRules())
    for piece in tokens("total = 0\n" * 3):
        scanner.feed(piece)
    assert scanner.reason == "loop"


def test_short_repeated_lines_are_ordinary_code():
    text = "        }\n    }\n}\n\n\n    pass\n    pass\n"
    assert stream(StopRules(), tokens(text)) == (text, None)


def test_a_repeat_in_progress_is_held_back_then_released_when_it_differs():
    scanner = StopScanner(StopRules())
    shown = scanner.feed("value = compute(a)\n") + scanner.feed("value = comp")
    assert shown == "value = compute(a)\n"
    assert scanner.feed("are(b)\n") == "value = compare(b)\n"


def test_loop_guard_can_be_turned_off():
    text = "x = x + 1\n" * 3
    assert stream(StopRules(stop_loops=False), tokens(text)) == (text, None)


def test_writing_the_next_line_of_the_suffix_ends_the_output():
    rules = StopRules(stop_lines=("return total",))
    out, _ = stream(rules, tokens("total += x\n    return total\n\nprint(1)\n"))
    assert out == "total += x\n"


def test_a_suffix_line_at_the_very_end_is_dropped_too():
    scanner = StopScanner(StopRules(stop_lines=("return total",)))
    shown = "".join(scanner.feed(p) for p in tokens("total += x\n    return total"))
    assert shown + scanner.flush() == "total += x\n"
    assert scanner.reason == "suffix"
