"""Screenshots of the main screens, compared with the accepted SVGs in __snapshots__/.

Content is fixed (a fake engine, a history written by the test, no clock, cursor blink
off). After an intended change of the layout, review and accept new images with
`pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

from assistant.store import Store
from assistant.tui.app import CoveApp
from assistant.tui.widgets.prompt_input import PromptInput
from tui_fakes import REPLY, FakeEngine

SIZE = (120, 34)
STATS = {"prompt_tokens": 120, "cached_tokens": 0, "generated_tokens": 64, "prompt_ms": 40.0,
         "generation_ms": 800.0, "total_ms": 840.0, "stop_reason": "eog"}


def history(path: Path) -> Store:
    """Two saved conversations; the second holds a chat exchange with code."""
    store = Store(path)
    other = store.create_conversation("Why is the sky blue?")
    store.add_message(other.id, "user", "Why is the sky blue?")
    store.add_message(other.id, "assistant", "Rayleigh scattering.", stats=STATS)
    chat = store.create_conversation("Write an add function")
    store.add_message(chat.id, "user", "Write an add function in Python, and a shell line.")
    store.add_message(chat.id, "assistant", REPLY, stats=STATS)
    return store


def app_on(store: Store, engine: FakeEngine, conversation_id: int | None = None) -> CoveApp:
    return CoveApp(store, engine, load_engine=lambda path: engine, conversation_id=conversation_id, cwd=Path("/"))


async def steady(pilot) -> None:
    pilot.app.screen.query_one(PromptInput).cursor_blink = False
    await pilot.pause()


def test_chat_screen_with_a_reply_and_the_sidebar(snap_compare, tmp_path):
    assert snap_compare(app_on(history(tmp_path / "h.sqlite3"), FakeEngine(), conversation_id=2),
                        terminal_size=SIZE, run_before=steady)


def test_empty_chat_in_completion_mode(snap_compare, tmp_path):
    assert snap_compare(app_on(Store(tmp_path / "h.sqlite3"), FakeEngine(chat_template=None)),
                        terminal_size=SIZE, run_before=steady)


def test_completion_reply_is_a_highlighted_code_block(snap_compare, tmp_path):
    store = Store(tmp_path / "h.sqlite3")
    conversation = store.create_conversation("def fib(n):")
    store.add_message(conversation.id, "user", "def fib(n):\n<|cursor|>\nprint(fib(10))", mode="completion")
    store.add_message(conversation.id, "assistant", "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
                      mode="completion", stats=STATS)
    assert snap_compare(app_on(store, FakeEngine(chat_template=None), conversation_id=conversation.id),
                        terminal_size=SIZE, run_before=steady)


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(app_on(Store(tmp_path / "h.sqlite3"), FakeEngine()), press=["f1"],
                        terminal_size=SIZE, run_before=steady)


def test_search_screen_with_results(snap_compare, tmp_path):
    async def search(pilot) -> None:
        await steady(pilot)
        await pilot.press("ctrl+f", *"add")
        await pilot.pause()

    assert snap_compare(app_on(history(tmp_path / "h.sqlite3"), FakeEngine()), terminal_size=SIZE, run_before=search)
