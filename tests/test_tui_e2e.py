"""The chat app end to end on a real (tiny, random) GGUF through llama.cpp.

The model's text is noise; what is checked is the mechanics: the message goes through
the real engine, the reply streams back, and its figures are stored and shown.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import Markdown

from assistant.chat import ChatConfig
from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.store import Store
from assistant.tui.app import CoveApp
from assistant.tui.widgets.messages import MessageView
from assistant.tui.widgets.prompt_input import PromptInput
from assistant.tui.widgets.status import StatusBar

pytestmark = pytest.mark.slow
MAX_TOKENS = 12


def real_app(gguf: Path, db: Path) -> CoveApp:
    config = EngineConfig(model=gguf, n_ctx=512, n_threads=1)
    return CoveApp(
        Store(db), Engine.load(config), config=ChatConfig(max_tokens=MAX_TOKENS),
        load_engine=lambda path: Engine.load(dataclasses.replace(config, model=path)), cwd=db.parent,
    )


def stored_messages(db: Path):
    store = Store(db)
    try:
        return store.messages(1)
    finally:
        store.close()


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the app did not reach the expected state in time")


async def test_a_code_message_is_infilled_by_the_real_model_and_stored_with_its_figures(tiny_gguf, tmp_path):
    db = tmp_path / "history.sqlite3"
    app = real_app(tiny_gguf, db)
    async with app.run_test(size=(120, 34)) as pilot:
        screen = app.screen
        assert "completion (code)" in str(screen.query_one(StatusBar).render())
        prompt = screen.query_one(PromptInput)
        prompt.load_text("def add(a, b):\n    return <|cursor|>\n\nprint(add(1, 2))\n")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen._reply is None and len(screen.query(MessageView)) == 2)
        reply = stored_messages(db)[-1]
        assert reply.role == "assistant" and reply.mode == "completion"
        assert 1 <= reply.stats["generated_tokens"] <= MAX_TOKENS
        assert reply.stats["stop_reason"] in ("eog", "max_tokens", "stop_text", "loop")
        assert screen.query(MessageView).last().query_one(Markdown).source.startswith("```")
        status = str(screen.query_one(StatusBar).render())
        used = reply.stats["prompt_tokens"] + reply.stats["generated_tokens"]
        assert f"ctx {used}/512" in status and "tok/s" in status


async def test_regenerating_reuses_the_prompt_from_the_kv_cache(tiny_gguf, tmp_path):
    db = tmp_path / "history.sqlite3"
    app = real_app(tiny_gguf, db)
    async with app.run_test(size=(120, 34)) as pilot:
        screen = app.screen
        screen.query_one(PromptInput).load_text("import os\nfor name in os.listdir('.'):\n")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen._reply is None and len(screen.query(MessageView)) == 2)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen._reply is None and stored_messages(db)[-1].stats["cached_tokens"] > 0)
        assert len(stored_messages(db)) == 2


async def test_model_command_switches_to_another_real_model(tiny_gguf, tmp_path):
    copy = tmp_path / "other.gguf"
    copy.write_bytes(tiny_gguf.read_bytes())
    app = real_app(tiny_gguf, tmp_path / "history.sqlite3")
    async with app.run_test(size=(120, 34)) as pilot:
        screen = app.screen
        first = screen._engine
        screen.query_one(PromptInput).load_text("/model other.gguf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen._engine is not first)
        assert screen._engine.model_path == copy
