"""The prompt windows: token budgets, line anchoring, CRLF, and chunks from other files."""

from __future__ import annotations

from lsp.context import (
    ANCHOR_LINES, Budget, Source, chunks_of, fit, normalize_newlines, similar_chunks, similarity, similarity_query,
    window,
)


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word, at least one per line."""
    return max(1, len(text.split()))


def numbered(count: int) -> str:
    return "".join(f"line {n}\n" for n in range(count))


def test_window_splits_at_the_cursor_with_the_cursor_line_parts():
    text = "def f(x):\n    return x + 1\n"
    offset = text.index("x + 1")
    result = window(text, offset, Budget(100, 100, 0), words)
    assert (result.prefix, result.suffix) == (text[:offset], text[offset:])
    assert (result.line_prefix, result.line_suffix) == ("    return ", "x + 1")


def test_prefix_window_keeps_whole_lines_within_its_budget():
    text = numbered(10)
    result = window(text, len(text), Budget(prefix=9, suffix=10, extra=0), words)
    assert result.prefix.endswith("line 9\n")
    assert result.prefix.startswith("line ")
    assert sum(words(line) for line in result.prefix.splitlines(keepends=True)) <= 9


def test_prefix_window_starts_on_the_anchor_grid_so_typing_keeps_it_still():
    text = numbered(100)
    budget = Budget(prefix=2 * 40, suffix=10, extra=0)  # room for 40 of the 2-word lines
    starts = set()
    for extra_chars in range(0, 30):  # the user types on the last line
        typed = text + "x" * extra_chars
        result = window(typed, len(typed), budget, words)
        first_line = result.prefix.split("\n", 1)[0]
        starts.add(first_line)
    assert len(starts) == 1
    first_number = int(starts.pop().split()[1])
    assert first_number % ANCHOR_LINES == 0


def test_suffix_window_stops_at_its_budget():
    text = "x = 1\n" + numbered(50)
    result = window(text, 0, Budget(prefix=10, suffix=6, extra=0), words)
    assert result.suffix.startswith("x = 1\n")
    assert result.suffix.count("\n") < 50


def test_crlf_is_read_as_lf_with_the_offset_moved():
    text = "a = 1\r\nb = 2\r\nc"
    normalized, offset = normalize_newlines(text, text.index("b = 2") + 2)
    assert normalized == "a = 1\nb = 2\nc"
    assert normalized[offset:] == "= 2\nc"


def test_cursor_between_cr_and_lf_counts_as_end_of_line():
    text = "ab\r\ncd"
    normalized, offset = normalize_newlines(text, 3)
    assert (normalized[:offset], normalized[offset:]) == ("ab", "\ncd")


def test_chunks_of_cut_a_file_into_runs_of_lines_without_blank_runs():
    source = Source("a.py", numbered(5) + "\n" * 5 + numbered(3))
    chunks = chunks_of(source, lines=5)
    assert [c.text.count("\n") for c in chunks] == [5, 3]
    assert all(c.path == "a.py" for c in chunks)


def test_similarity_counts_shared_identifiers():
    assert similarity("def parse_config(path)", "def parse_config(path):") == 1.0
    assert similarity("alpha beta", "gamma delta") == 0.0


def test_similar_chunks_prefer_related_code_and_fit_the_budget():
    related = Source("config.py", "def parse_config(path):\n    return load(path)\n")
    unrelated = Source("colors.py", "RED = 1\nGREEN = 2\n")
    chosen = similar_chunks([unrelated, related], "config = parse_config(path)\n", budget=100, count=words)
    assert [c.path for c in chosen] == ["config.py"]
    assert similar_chunks([related], "parse_config(path)", budget=2, count=words) == ()


def test_similar_chunks_keep_source_order_not_score_order():
    first = Source("a.py", "load value\n")
    second = Source("b.py", "load value store result\n")
    chosen = similar_chunks([first, second], "load value store result", budget=100, count=words)
    assert [c.path for c in chosen] == ["a.py", "b.py"]


def test_the_similarity_query_is_the_lines_above_the_cursor_line():
    text = "import db\nconn = connect(url)\nrender(wid"
    assert similarity_query(text, len(text)) == "import db\nconn = connect(url)\n"


def test_fit_leaves_budgets_that_fit_and_those_of_backends_without_a_limit():
    budget = Budget(768, 128, 384)
    assert fit(budget, 48, None) == (budget, 48)
    assert fit(budget, 48, 2048) == (budget, 48)


def test_fit_shrinks_windows_in_proportion_so_windows_and_answer_fit_the_room():
    assert fit(Budget(768, 128, 384), 48, 480) == (Budget(259, 43, 129), 48)  # 259 + 43 + 129 + 48 <= 480


def test_fit_caps_the_answer_at_a_quarter_of_a_tiny_room():
    shrunk, answer = fit(Budget(768, 128, 0), 200, 100)
    assert answer == 25 and shrunk.prefix + shrunk.suffix + answer <= 100
