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
