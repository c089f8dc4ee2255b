"""The chat app driven by key presses (Textual Pilot) over a fake streaming engine."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import Markdown

from assistant.chat import ChatConfig
from assistant.errors import ModelError
from assistant.sampling import BASE_MODEL_CHAT, Sampling
from assistant.store import Store
from assistant.tui.app import CoveApp
from assistant.tui.screens.chat import ChatScreen
from assistant.tui.screens.help import HelpScreen
from assistant.tui.slash import SLASH_COMMANDS
from assistant.tui.widgets.messages import ChatLog, MessageView
from assistant.tui.widgets.prompt_input import PromptInput
from assistant.tui.widgets.reply import Outbox
from assistant.tui.widgets.status import StatusBar
from tui_fakes import REPLY, FakeEngine, split_pieces

SIZE = (120, 34)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


def make_app(db: Path, engine: FakeEngine | None = None, *, cwd: Path | None = None, loader=None, **kwargs) -> CoveApp:
    return CoveApp(
        Store(db), engine or FakeEngine(), load_engine=loader or (lambda path: FakeEngine(name=path.stem)),
        cwd=cwd or db.parent, **kwargs,
    )


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the app did not reach the expected state in time")


async def type_and_send(pilot, text: str) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.load_text(text)
    prompt.focus()
    await pilot.press("enter")


def views(app) -> list[MessageView]:
    return list(app.screen.query(MessageView))


def stored(db: Path) -> list[tuple[str, str]]:
    """(role, content) of every message, read through a second connection."""
    store = Store(db)
    try:
        return [(m.role, m.content) for c in store.conversations() for m in store.messages(c.id)]
    finally:
        store.close()


def idle(app) -> bool:
    return app.screen._reply is None


def status_text(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


async def test_enter_sends_and_the_reply_is_rendered_as_markdown(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "add two numbers")
        await wait_for(pilot, lambda: idle(app))
        user, reply = views(app)
        assert user.query_one(Markdown).source == "add two numbers"
        assert reply.query_one(Markdown).source == REPLY
        assert app.screen.query_one(PromptInput).text == ""


async def test_reply_streams_piece_by_piece(db):
    gate = threading.Semaphore(0)
    app = make_app(db, FakeEngine(gate=gate))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        pieces = split_pieces(REPLY)
        gate.release(3)
        reply = views(app)[-1].query_one(Markdown)
        await wait_for(pilot, lambda: reply.source.endswith("".join(pieces[:3])))
        assert not idle(app)
        gate.release(len(pieces))
        await wait_for(pilot, lambda: idle(app))
        assert views(app)[-1].query_one(Markdown).source == REPLY


async def test_message_is_committed_before_the_reply_starts(db):
    gate = threading.Semaphore(0)
    app = make_app(db, FakeEngine(gate=gate))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "keep me")
        await wait_for(pilot, lambda: len(views(app)) == 2)
        assert stored(db) == [("user", "keep me")]
        app.screen.action_cancel()
        await wait_for(pilot, lambda: idle(app))


async def test_escape_stops_the_reply_and_keeps_its_partial_text(db):
    gate = threading.Semaphore(0)
    app = make_app(db, FakeEngine(gate=gate))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        gate.release(2)
        partial = "".join(split_pieces(REPLY)[:2])
        await wait_for(pilot, lambda: views(app)[-1].query_one(Markdown).source.endswith(partial))
        await pilot.press("escape")
        await wait_for(pilot, lambda: idle(app))
        assert stored(db) == [("user", "hello"), ("assistant", partial)]
        assert "stopped" in str(views(app)[-1].query_one(".speaker").render())


async def test_input_stays_usable_while_a_reply_streams(db):
    gate = threading.Semaphore(0)
    app = make_app(db, FakeEngine(gate=gate))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "first")
        await pilot.press("n", "e", "x", "t")
        assert app.screen.query_one(PromptInput).text == "next"
        await pilot.press("enter")  # refused while streaming: the text stays
        assert app.screen.query_one(PromptInput).text == "next"
        await pilot.press("escape")
        await wait_for(pilot, lambda: idle(app))
        gate.release(len(split_pieces(REPLY)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(views(app)) == 4 and idle(app))
        assert [content for role, content in stored(db) if role == "user"] == ["first", "next"]


async def test_enter_empties_the_box_before_the_message_is_handled(db):
    """Keys typed while a message is being handled must start the next one, not be
    appended to the sent text or wiped with it."""
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        seen = []

        async def send(text: str) -> None:
            seen.append((text, app.screen.query_one(PromptInput).text))

        app.screen.send = send
        await type_and_send(pilot, "hello")
        assert seen == [("hello", "")]


async def test_shift_enter_and_ctrl_j_add_newlines_without_sending(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        assert app.screen.query_one(PromptInput).text == "a\nb\nc"
        assert views(app) == []


async def test_regenerate_replaces_the_last_reply(db):
    engine = FakeEngine()
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        engine.reply = "a different answer"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: idle(app) and len(engine.requests) == 2)
        assert stored(db) == [("user", "hello"), ("assistant", "a different answer")]
        assert [v.query_one(Markdown).source for v in views(app)] == ["hello", "a different answer"]


async def test_regenerate_samples_instead_of_repeating_the_greedy_reply(db):
    engine = FakeEngine()
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: idle(app) and len(engine.requests) == 2)
        assert [s.temperature for s in engine.samplings] == [0.0, ChatConfig().regenerate_temperature]


async def test_completion_mode_samples_like_a_base_model_and_infill_stays_greedy(db):
    engine = FakeEngine("b", chat_template=None)
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        assert BASE_MODEL_CHAT.label() in status_text(app)
        await type_and_send(pilot, "def add(a, b):\n    return a + ")
        await wait_for(pilot, lambda: idle(app))
        await type_and_send(pilot, "def add(a, b):\n<|cursor|>\n")
        await wait_for(pilot, lambda: idle(app) and len(engine.requests) == 2)
        assert engine.samplings == [BASE_MODEL_CHAT] and engine.requests[-1][0] == "infill"


async def test_set_changes_the_sampling_of_the_mode_in_use_and_the_status_bar_shows_it(db):
    engine = FakeEngine()
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        assert "│ greedy │" in status_text(app)
        await type_and_send(pilot, "/set temperature 0.7")
        await type_and_send(pilot, "/set top_p 0.9")
        await type_and_send(pilot, "/set repeat-penalty 1.2")
        assert "t 0.7 · p 0.9 · rep 1.2" in status_text(app)
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        assert engine.samplings == [Sampling(temperature=0.7, top_p=0.9, repeat_penalty=1.2)]
        assert app.screen._config.completion_sampling == BASE_MODEL_CHAT


@pytest.mark.parametrize("command, error", [
    ("/set warmth 0.7", "unknown sampling setting 'warmth'"),
    ("/set temperature hot", "temperature takes a number, not 'hot'"),
    ("/set top-p 1.5", "top_p 1.5 must be in (0, 1]"),
    ("/set", "/set needs an argument"),
])
async def test_set_with_a_bad_name_or_value_is_a_one_line_error(db, command, error):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, command)
        await pilot.pause()
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and error in errors[0] and "\n" not in errors[0]
        assert app.screen.query_one(PromptInput).text == command
        assert "│ greedy │" in status_text(app)


async def test_edit_last_message_loads_it_and_resends_the_edit(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "first question")
        await wait_for(pilot, lambda: idle(app))
        await pilot.press("ctrl+l")
        prompt = app.screen.query_one(PromptInput)
        assert prompt.text == "first question"
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", "backspace", "backspace",
                          "backspace", "a", "s", "k")
        await pilot.press("enter")
        await wait_for(pilot, lambda: idle(app) and len(views(app)) == 2)
        assert stored(db) == [("user", "first ask"), ("assistant", REPLY)]


async def test_chat_prompt_goes_through_the_models_chat_template(db):
    engine = FakeEngine()
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/system be brief")
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        kind, prompt = engine.requests[-1]
        assert kind == "generate"
        assert prompt == "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"


async def test_completion_mode_fills_the_gap_at_the_cursor_marker(db):
    engine = FakeEngine("    return a + b", chat_template=None)
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        assert "completion (code)" in status_text(app)
        await type_and_send(pilot, "def add(a, b):\n<|cursor|>\nprint(add(1, 2))\n")
        await wait_for(pilot, lambda: idle(app))
        assert engine.requests[-1][:3] == ("infill", "def add(a, b):\n", "\nprint(add(1, 2))\n")
        assert views(app)[-1].query_one(Markdown).source == "```\n    return a + b\n```"


async def test_completion_mode_without_marker_continues_the_code(db):
    engine = FakeEngine("b", chat_template=None)
    app = make_app(db, engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "def add(a, b):\n    return a + ")
        await wait_for(pilot, lambda: idle(app))
        kind, pieces = engine.requests[-1]
        assert kind == "generate" and "".join(p.text for p in pieces) == "def add(a, b):\n    return a + "


async def test_add_attaches_a_file_counted_in_tokens_and_sends_it_as_context(db, tmp_path):
    (tmp_path / "util.py").write_text("def helper():\n    return 42\n")
    engine = FakeEngine()
    app = make_app(db, engine, cwd=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/add util.py")
        tokens = len(engine.tokenize("def helper():\n    return 42\n"))
        assert f"1 file(s) attached, {tokens} tokens" in status_text(app)
        await type_and_send(pilot, "use it")
        await wait_for(pilot, lambda: idle(app))
        assert "File util.py:\n```\ndef helper():\n    return 42\n" in engine.requests[-1][1]


async def test_add_of_a_line_range_attaches_only_those_lines(db, tmp_path):
    (tmp_path / "util.py").write_text("one\ntwo\nthree\n")
    app = make_app(db, cwd=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/add util.py:2-3")
        assert [(a.name, a.text) for a in app.screen._attachments] == [("util.py:2-3", "two\nthree\n")]


async def test_drop_detaches_files(db, tmp_path):
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 2\n")
    app = make_app(db, cwd=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/add a.py")
        await type_and_send(pilot, "/add b.py")
        await type_and_send(pilot, "/drop a.py")
        assert [a.name for a in app.screen._attachments] == ["b.py"]
        await type_and_send(pilot, "/drop")
        assert app.screen._attachments == []
        assert "attached" not in status_text(app)


async def test_add_of_a_missing_file_is_an_error_that_keeps_the_input(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/add nowhere.py")
        await pilot.pause()
        assert app.screen.query_one(PromptInput).text == "/add nowhere.py"
        assert any("no such file" in n.message for n in app._notifications)


async def test_unknown_slash_command_is_reported(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/frobnicate")
        await pilot.pause()
        assert any("unknown command /frobnicate" in n.message for n in app._notifications)
        assert views(app) == []


async def test_copy_puts_the_numbered_code_block_on_the_clipboard(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        await type_and_send(pilot, "/copy 2")
        assert app.clipboard == "echo done\n"
        await type_and_send(pilot, "/copy")
        assert app.clipboard == "def add(a, b):\n    return a + b\n"


async def test_copy_of_a_missing_block_names_how_many_there_are(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        await type_and_send(pilot, "/copy 5")
        await pilot.pause()
        assert any("has 2 code block(s)" in n.message for n in app._notifications)


async def test_clear_starts_a_new_conversation_and_keeps_the_old_one(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "first")
        await wait_for(pilot, lambda: idle(app))
        await type_and_send(pilot, "/clear")
        await pilot.pause()
        assert views(app) == []
        await type_and_send(pilot, "second")
        await wait_for(pilot, lambda: idle(app))
        assert [c.title for c in app.screen._store.conversations()] == ["second", "first"]


async def test_help_lists_every_key_and_slash_command(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        source = app.screen.query_one(Markdown).source
        for command in SLASH_COMMANDS:
            assert command.usage in source
        for binding in ChatScreen.BINDINGS:
            assert f"`{binding.key.replace(',', ' / ')}`: {binding.tooltip}" in source
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_model_switches_without_restarting(db):
    first = FakeEngine(name="first")
    loaded: list[Path] = []

    def loader(path: Path) -> FakeEngine:
        loaded.append(path)
        return FakeEngine(name="second", chat_template=None)

    app = make_app(db, first, loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/model models/second.gguf")
        await wait_for(pilot, lambda: app.screen._engine.model_name == "second")
        assert loaded == [db.parent / "models" / "second.gguf"]
        assert first.closed
        assert "completion (code)" in status_text(app)


async def test_sending_waits_for_a_model_that_is_loading(db):
    release = threading.Event()

    def loader(path: Path) -> FakeEngine:
        release.wait(5)
        return FakeEngine(name="second")

    app = make_app(db, FakeEngine(name="first"), loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/model second.gguf")
        await type_and_send(pilot, "too early")
        await pilot.pause()
        assert any("model is still loading" in n.message for n in app._notifications)
        assert app.screen.query_one(PromptInput).text == "too early"
        release.set()
        # Not the status bar: while loading it already names the new file ("loading second.gguf").
        await wait_for(pilot, lambda: app.screen._engine.model_name == "second")
        await pilot.press("enter")
        await wait_for(pilot, lambda: idle(app) and len(views(app)) == 2)


async def test_a_model_that_fails_to_load_leaves_the_current_one(db):
    def loader(path: Path) -> FakeEngine:
        raise ModelError(f"model file not found: {path}")

    app = make_app(db, FakeEngine(name="first"), loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "/model missing.gguf")
        await wait_for(pilot, lambda: any("model file not found" in n.message for n in app._notifications))
        assert "first" in status_text(app)


async def test_status_bar_shows_model_context_and_speed(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        stats = app.screen._store.messages(1)[-1].stats
        text = status_text(app)
        assert "fake-coder" in text
        assert f"ctx {stats['prompt_tokens'] + stats['generated_tokens']}/2048" in text
        assert "100.0 tok/s" in text


async def test_conversations_persist_across_app_restarts(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "remember this")
        await wait_for(pilot, lambda: idle(app))
    again = make_app(db)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o", "enter")
        await wait_for(pilot, lambda: len(views(again)) == 2)
        assert [v.query_one(Markdown).source for v in views(again)] == ["remember this", REPLY]
        assert again.screen.sub_title == "remember this"


async def test_resumed_conversation_continues_with_its_history(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "one")
        await wait_for(pilot, lambda: idle(app))
    engine = FakeEngine()
    again = make_app(db, engine, conversation_id=1)
    async with again.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "two")
        await wait_for(pilot, lambda: idle(again) and len(views(again)) == 4)
        prompt = engine.requests[-1][1]
        assert prompt.index("one") < prompt.index(REPLY.strip()[:20]) < prompt.index("two")


async def test_search_finds_a_message_and_opens_its_conversation(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "talk about pelicans")
        await wait_for(pilot, lambda: idle(app))
        await type_and_send(pilot, "/clear")
        await type_and_send(pilot, "something else")
        await wait_for(pilot, lambda: idle(app))
        await pilot.press("ctrl+f", *"pelicans", "enter")
        await wait_for(pilot, lambda: app.screen.sub_title == "talk about pelicans")
        assert views(app)[0].query_one(Markdown).source == "talk about pelicans"


async def test_export_writes_the_conversation_to_markdown_and_json(db, tmp_path):
    app = make_app(db, cwd=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: idle(app))
        await type_and_send(pilot, "/export chat.md")
        await type_and_send(pilot, "/export chat.json")
        await pilot.pause()
    markdown = (tmp_path / "chat.md").read_text()
    assert markdown.startswith("# hello\n") and "## You\n\nhello" in markdown and REPLY in markdown
    document = json.loads((tmp_path / "chat.json").read_text())
    assert [m["content"] for m in document["messages"]] == ["hello", REPLY]


async def test_export_key_asks_for_a_file_name(db, tmp_path):
    app = make_app(db, cwd=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello there")
        await wait_for(pilot, lambda: idle(app))
        await pilot.press("ctrl+s", "enter")
        await wait_for(pilot, lambda: (tmp_path / "hello-there.md").exists())


async def test_deleting_a_conversation_from_the_sidebar_asks_first(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "doomed")
        await wait_for(pilot, lambda: idle(app))
        await pilot.press("ctrl+o", "delete", "n")
        assert len(app.screen._store.conversations()) == 1
        await pilot.press("delete", "y")
        await pilot.pause()
        assert app.screen._store.conversations() == []
        assert views(app) == []


async def test_command_palette_offers_chat_actions(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"New conversation", "Regenerate reply", "Search conversations", "Switch model"} <= set(titles)
        await pilot.press("ctrl+p", *"help", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


def test_outbox_asks_for_one_update_per_batch_of_pieces():
    outbox = Outbox()
    assert [outbox.put("a"), outbox.put("b"), outbox.put("c")] == [True, False, False]
    assert outbox.take() == "abc"
    assert outbox.put("d") is True


async def test_the_log_follows_a_streaming_reply_only_while_the_user_is_at_the_bottom(db):
    gate = threading.Semaphore(0)
    lines = "".join(f"line {n}\n\n" for n in range(80))
    app = make_app(db, FakeEngine(lines, gate=gate))
    async with app.run_test(size=SIZE) as pilot:
        log = app.screen.query_one(ChatLog)
        await type_and_send(pilot, "count")
        gate.release(60)
        await wait_for(pilot, lambda: "line 29" in views(app)[-1].query_one(Markdown).source)
        await pilot.pause(0.1)
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        log.scroll_home(animate=False)
        await pilot.pause()
        gate.release(60)
        await wait_for(pilot, lambda: "line 59" in views(app)[-1].query_one(Markdown).source)
        await pilot.pause(0.1)
        assert log.scroll_y == 0
        log.scroll_end(animate=False)
        gate.release(len(split_pieces(lines)))
        await wait_for(pilot, lambda: idle(app))
        await pilot.pause(0.1)
        assert log.scroll_y == log.max_scroll_y
