"""Names the code around never mentions are shown only when the model was sure of them."""

from __future__ import annotations

import math

from lsp.grounding import cut_new_names


def tokens(*pieces: tuple[str, float]) -> tuple[tuple[int, float], ...]:
    return tuple((len(text), math.log(probability)) for text, probability in pieces)


UNSURE_NAME = tokens(("result", 0.9), (" = ", 0.9), ("compute", 0.4), ("(x)", 0.9))


def test_a_made_up_name_the_model_was_unsure_of_ends_the_completion_before_it():
    assert cut_new_names("result = compute(x)", UNSURE_NAME, "    ", ["result = 1\nx = 2"], 0.9) == "result = "


def test_a_name_the_document_mentions_is_kept():
    assert cut_new_names("result = compute(x)", UNSURE_NAME, "    ", ["def compute(v): ..."], 0.9) == "result = compute(x)"


def test_a_name_another_file_mentions_is_kept():
    texts = ["result = 1", "from lib import compute"]
    assert cut_new_names("result = compute(x)", UNSURE_NAME, "    ", texts, 0.9) == "result = compute(x)"


def test_a_made_up_name_the_model_was_sure_of_is_kept():
    sure = tokens(("result", 0.9), (" = ", 0.9), ("compute", 0.95), ("(x)", 0.9))
    assert cut_new_names("result = compute(x)", sure, "    ", ["result x"], 0.9) == "result = compute(x)"


def test_a_word_inside_a_longer_name_does_not_count_as_mentioned():
    assert cut_new_names("result = compute(x)", UNSURE_NAME, "", ["result = 1\nx = recompute_all()"], 0.9) == "result = "


def test_the_languages_own_names_are_known():
    unsure = tokens(("len", 0.3), ("(x)", 0.9))
    assert cut_new_names("len(x)", unsure, "n = ", ["x"], 0.9, path="/a/b.py") == "len(x)"
    assert cut_new_names("len(x)", unsure, "n = ", ["x"], 0.9, path="/a/b.js") == ""


def test_other_languages_know_their_keywords_and_common_globals():
    unsure = tokens(("console", 0.3), (".", 0.9), ("log", 0.3), ("(x)", 0.9))
    assert cut_new_names("console.log(x)", unsure, "", ["x"], 0.9, path="/a/app.ts") == "console.log(x)"
    assert cut_new_names("console.log(x)", unsure, "", ["x"], 0.9, path="/a/notes.txt") == ""


def test_the_word_at_the_cursor_is_judged_with_its_typed_part():
    unsure = tokens(("get", 0.3), (")", 0.9))
    assert cut_new_names("get)", unsure, "print(tar", ["print(tar"], 0.9) == ""
    assert cut_new_names("get)", unsure, "print(tar", ["target = 1\nprint(tar"], 0.9) == "get)"


def test_a_healed_token_that_wrote_only_the_typed_part_counts_for_its_word():
    unsure_head = ((0, math.log(0.3)), (3, math.log(0.99)))
    assert cut_new_names("get", unsure_head, "x = tar", ["x = tar"], 0.9) == ""


def test_names_inside_numbers_are_not_names():
    unsure = tokens(("1e5", 0.3))
    assert cut_new_names("1e5", unsure, "x = ", ["x"], 0.9) == "1e5"


def test_a_floor_of_zero_turns_the_check_off():
    assert cut_new_names("result = compute(x)", UNSURE_NAME, "", [""], 0.0) == "result = compute(x)"
