"""Turning a conversation into an engine request: modes, templates, attachments, code blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.chat import (
    CHAT,
    COMPLETION,
    CURSOR,
    Attachment,
    ChatConfig,
    choose_mode,
    code_blocks,
    display_markdown,
    parse_sampling_setting,
    read_attachment,
    start_reply,
)
from assistant.cli import build_parser, main
from assistant.commands.chat import chat_config_from_args
from assistant.errors import CoveError
from assistant.sampling import BASE_MODEL_CHAT, GREEDY, Sampling
from tui_fakes import CHATML, FakeEngine


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


def test_auto_mode_is_chat_when_the_model_has_a_template():
    assert choose_mode(FakeEngine(), "auto") == CHAT


def test_auto_mode_is_completion_for_a_base_model():
    assert choose_mode(FakeEngine(chat_template=None), "auto") == COMPLETION


def test_chat_mode_on_a_model_without_template_is_refused_with_a_fix():
    with pytest.raises(CoveError, match="no chat template: use --mode completion"):
        choose_mode(FakeEngine(chat_template=None), CHAT)


def test_unknown_mode_is_refused():
    with pytest.raises(CoveError, match="unknown chat mode"):
        ChatConfig(mode="poetry")


def test_chat_turns_are_rendered_with_the_template_and_a_generation_prompt():
    engine = FakeEngine()
    start_reply(engine, CHAT, [Turn("user", "hi"), Turn("assistant", "hello"), Turn("user", "bye")]).result()
    assert engine.requests[-1][1] == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
        "<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n"
    )


def test_attachments_travel_in_the_system_message_after_the_system_prompt():
    engine = FakeEngine()
    files = [Attachment("a.py", "x = 1", 3)]
    start_reply(engine, CHAT, [Turn("user", "q")], system="be terse", attachments=files).result()
    assert engine.requests[-1][1].startswith("<|im_start|>system\nbe terse\n\nFile a.py:\n```\nx = 1\n```<|im_end|>\n")


def test_oldest_turns_are_dropped_when_the_conversation_outgrows_the_context():
    engine = FakeEngine(n_ctx=40)
    turns = [Turn("user", "old " * 10), Turn("assistant", "older " * 10), Turn("user", "new question")]
    start_reply(engine, CHAT, turns, config=ChatConfig(max_tokens=16)).result()
    prompt = engine.requests[-1][1]
    assert "old " not in prompt and "new question" in prompt


def test_completion_mode_infills_around_the_cursor_marker_with_attachments_as_context():
    engine = FakeEngine(chat_template=None)
    files = [Attachment("util.py", "def helper(): pass", 4)]
    start_reply(engine, COMPLETION, [Turn("user", f"a = {CURSOR}\nb = 2")], attachments=files).result()
    kind, prefix, suffix, extra = engine.requests[-1]
    assert (kind, prefix, suffix) == ("infill", "a = ", "\nb = 2")
    assert [(c.path, c.text) for c in extra] == [("util.py", "def helper(): pass")]


def test_completion_mode_refuses_two_cursor_markers():
    with pytest.raises(CoveError, match="exactly once"):
        start_reply(FakeEngine(chat_template=None), COMPLETION, [Turn("user", f"{CURSOR} x {CURSOR}")])


def test_completion_mode_without_marker_continues_after_the_attachments():
    engine = FakeEngine(chat_template=None)
    files = [Attachment("util.py", "X = 1", 2)]
    start_reply(engine, COMPLETION, [Turn("user", "print(")], attachments=files).result()
    kind, pieces = engine.requests[-1]
    assert kind == "generate"
    assert [(p.text, p.special) for p in pieces] == [("X = 1\n", False), ("print(", False)]


def test_reply_length_is_capped_by_max_tokens():
    generation = start_reply(FakeEngine(), CHAT, [Turn("user", "q")], config=ChatConfig(max_tokens=2))
    generation.result()
    assert (generation.stats.generated_tokens, generation.stats.stop_reason) == (2, "max_tokens")


def test_a_conversation_must_end_with_a_user_turn():
    with pytest.raises(CoveError, match="no message to answer"):
        start_reply(FakeEngine(), CHAT, [Turn("user", "q"), Turn("assistant", "a")])


def test_read_attachment_counts_tokens(tmp_path: Path):
    (tmp_path / "m.py").write_text("import os\nprint(os.sep)\n")
    attachment = read_attachment("m.py", FakeEngine(), tmp_path)
    assert attachment.tokens == len(FakeEngine().tokenize("import os\nprint(os.sep)\n"))


def test_read_attachment_takes_an_inclusive_line_range(tmp_path: Path):
    (tmp_path / "m.py").write_text("1\n2\n3\n4\n")
    assert read_attachment("m.py:2-3", FakeEngine(), tmp_path).text == "2\n3\n"


def test_read_attachment_rejects_a_range_outside_the_file(tmp_path: Path):
    (tmp_path / "m.py").write_text("1\n2\n")
    with pytest.raises(CoveError, match="has 2 lines"):
        read_attachment("m.py:2-5", FakeEngine(), tmp_path)


def test_read_attachment_rejects_binary_files(tmp_path: Path):
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(CoveError, match="not UTF-8"):
        read_attachment("blob.bin", FakeEngine(), tmp_path)


def test_completion_mode_code_is_shown_in_a_fence_longer_than_any_inside_it():
    assert display_markdown("x = '```'", COMPLETION) == "````\nx = '```'\n````"


def test_chat_text_is_shown_as_written():
    assert display_markdown("*hi*", CHAT) == "*hi*"


def test_code_blocks_are_the_fences_of_a_chat_reply_in_order():
    reply = "a\n\n```py\none()\n```\n\ntext\n\n~~~\ntwo()\n~~~\n"
    assert code_blocks(reply, CHAT) == ["one()\n", "two()\n"]


def test_a_completion_reply_is_one_code_block():
    assert code_blocks("return 1", COMPLETION) == ["return 1"]


def test_templates_that_close_turns_with_eos_get_the_models_spelling():
    engine = FakeEngine(chat_template="{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}")
    start_reply(engine, CHAT, [Turn("user", "hi"), Turn("assistant", "yo"), Turn("user", "q")]).result()
    assert engine.requests[-1][1] == "hi<|im_end|>yo<|im_end|>q<|im_end|>"


def test_chat_replies_are_greedy_and_completion_mode_samples_like_a_base_model():
    config = ChatConfig()
    assert (config.sampling(CHAT), config.sampling(COMPLETION)) == (GREEDY, BASE_MODEL_CHAT)
    for mode, prompt in ((CHAT, "q"), (COMPLETION, "def f(")):
        engine = FakeEngine(chat_template=CHATML if mode == CHAT else None)
        start_reply(engine, mode, [Turn("user", prompt)], config=config).result()
        assert engine.samplings == [config.sampling(mode)]


def test_regenerate_samples_at_least_at_the_regenerate_temperature_in_both_modes():
    hot = ChatConfig().with_sampling({"temperature": 1.1}, COMPLETION).for_regenerate()
    assert hot.chat_sampling.temperature == ChatConfig().regenerate_temperature
    assert hot.completion_sampling == Sampling(temperature=1.1, top_p=0.95, repeat_penalty=1.1)


def test_a_sampling_change_is_for_one_mode_or_both():
    one = ChatConfig().with_sampling({"top-p": 0.5}, CHAT)
    assert (one.chat_sampling.top_p, one.completion_sampling) == (0.5, BASE_MODEL_CHAT)
    both = ChatConfig().with_sampling({"repeat-penalty": 1.3})
    assert both.chat_sampling.repeat_penalty == both.completion_sampling.repeat_penalty == 1.3


@pytest.mark.parametrize("text, error", [
    ("warmth 1", "unknown sampling setting 'warmth': use temperature, top-p, repeat-penalty"),
    ("temperature", "temperature takes a number, not '': /set temperature 0.6"),
    ("top_p nan", "top-p takes a number, not 'nan'"),
])
def test_a_sampling_setting_that_is_not_one_is_a_one_line_error(text, error):
    with pytest.raises(CoveError, match=re.escape(error)):
        parse_sampling_setting(text)


def test_a_sampling_value_out_of_range_is_a_cove_error():
    with pytest.raises(CoveError, match="temperature -1.0 must be 0 or more"):
        ChatConfig().with_sampling(parse_sampling_setting("Temperature -1"))


def test_cove_chat_sampling_flags_apply_in_both_modes_and_keep_the_other_defaults():
    args = build_parser("chat").parse_args(["chat", "--temperature", "0.3", "--repeat-penalty", "1.2"])
    config = chat_config_from_args(args)
    assert config.chat_sampling == Sampling(temperature=0.3, repeat_penalty=1.2)
    assert config.completion_sampling == Sampling(temperature=0.3, top_p=0.95, repeat_penalty=1.2)
    assert chat_config_from_args(build_parser("chat").parse_args(["chat"])) == ChatConfig()


def test_cove_chat_refuses_a_bad_sampling_flag_in_one_line(capsys):
    assert main(["chat", "--top-p", "0", "--model", "/nowhere.gguf"]) == 2
    assert capsys.readouterr().err.strip() == "cove: error: top_p 0.0 must be in (0, 1]"
