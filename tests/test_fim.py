"""Infill prompt layouts, token by token as pieces."""

import pytest

from assistant.fim import (
    CODELLAMA, END_OF_TEXT, PROJECT_SPECIAL_TOKENS, QWEN, STARCODER, CodeGen2, ContextChunk,
    FimFormat, Order, Piece, parse_format,
)


def test_psm_puts_prefix_then_suffix_then_middle_sentinel():
    pieces = FimFormat(Order.PSM, STARCODER).layout("def f():\n    ", "\n")
    assert pieces == [
        Piece("<fim_prefix>", True), Piece("def f():\n    "),
        Piece("<fim_suffix>", True), Piece("\n"), Piece("<fim_middle>", True),
    ]


def test_spm_puts_suffix_first_so_the_prefix_ends_the_prompt():
    pieces = FimFormat(Order.SPM, QWEN).layout("a = ", "\nb = 2")
    assert pieces == [
        Piece("<|fim_prefix|>", True), Piece("<|fim_suffix|>", True), Piece("\nb = 2"),
        Piece("<|fim_middle|>", True), Piece("a = "),
    ]


def test_codegen2_masks_the_middle_and_asks_for_mask_1():
    pieces = FimFormat(Order.CODEGEN2).layout("x = ", "\n")
    assert pieces == [
        Piece("x = "), Piece("<mask_1>", True), Piece("\n"),
        Piece(END_OF_TEXT, True), Piece("<sep>", True), Piece("<mask_1>", True),
    ]
    assert FimFormat(Order.CODEGEN2).stop_texts()[0] == "<eom>"


def test_template_literals_are_special_and_fields_are_user_text():
    fmt = parse_format("<PRE> {prefix} <SUF>{suffix} <MID>")
    assert fmt.layout("p", "s") == [
        Piece("<PRE> ", True), Piece("p"), Piece(" <SUF>", True), Piece("s"), Piece(" <MID>", True),
    ]


def test_empty_user_text_adds_no_piece():
    assert Piece("") not in FimFormat(Order.PSM, STARCODER).layout("", "")


def test_user_text_that_spells_a_sentinel_stays_user_text():
    pieces = FimFormat(Order.PSM, STARCODER).layout("<fim_middle>", END_OF_TEXT)
    assert Piece("<fim_middle>") in pieces and Piece(END_OF_TEXT) in pieces


def test_context_chunks_come_first_with_file_separators():
    pieces = FimFormat(Order.PSM, STARCODER).layout(
        "p", "s", extra=[ContextChunk("util.py", "def g(): pass")], path="main.py", repo="demo")
    assert pieces[:6] == [
        Piece("<repo_name>", True), Piece("demo\n"),
        Piece("<file_sep>", True), Piece("util.py\ndef g(): pass\n"),
        Piece("<file_sep>", True), Piece("main.py\n"),
    ]
    assert pieces[6] == Piece("<fim_prefix>", True)


def test_context_chunks_are_plain_text_for_families_without_file_separators():
    pieces = FimFormat(Order.PSM, CODELLAMA).layout("p", "s", extra=[ContextChunk("u.py", "import os")])
    assert pieces[0] == Piece("import os\n")


def test_codellama_ends_the_middle_with_its_own_token():
    assert FimFormat(Order.PSM, CODELLAMA).stop_texts()[0] == "▁<EOT>"


@pytest.mark.parametrize("spec,name", [("psm:starcoder", "psm:starcoder"), ("spm:qwen", "spm:qwen"),
                                       ("codegen2", "codegen2"), ("<a>{prefix}<b>{suffix}<c>", "template")])
def test_parse_format_reads_each_spelling(spec, name):
    assert parse_format(spec).name == name


@pytest.mark.parametrize("spec", ["psm", "psm:gpt", "middle-first", "{prefix} only"])
def test_parse_format_rejects_what_it_cannot_build(spec):
    with pytest.raises(ValueError):
        parse_format(spec)


def test_project_tokens_hold_both_starcoder_and_codegen2_sentinels():
    assert {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<sep>", "<eom>", "<mask_1>", END_OF_TEXT} <= set(PROJECT_SPECIAL_TOKENS)
    assert len(set(PROJECT_SPECIAL_TOKENS)) == len(PROJECT_SPECIAL_TOKENS)
    assert CodeGen2.mask(CodeGen2.MAX_SPANS) in PROJECT_SPECIAL_TOKENS


def test_left_to_right_lays_out_only_the_prefix():
    pieces = FimFormat(Order.LEFT_TO_RIGHT).layout("def f():\n    return ", "\n\nprint(f())\n")
    assert pieces == [Piece("def f():\n    return ")]


@pytest.mark.parametrize("spec", ["ltr", "left-to-right"])
def test_left_to_right_is_named_on_the_command_line(spec):
    chosen = parse_format(spec)
    assert chosen.order is Order.LEFT_TO_RIGHT and chosen.name == "left-to-right"
    assert not chosen.sees_suffix


def test_a_template_without_a_suffix_field_is_refused_with_an_example():
    with pytest.raises(ValueError, match=r"\{prefix\} and \{suffix\}.*e\.g\."):
        parse_format("<PRE> {prefix} <MID>")
