"""The advice that replaces the bundled model: the first-run line of the chat, and what
`cove doctor` says on a machine too slow for the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import advice, catalogue, locations, machine_speed
from assistant.commands.chat import first_run_notice
from assistant.machine_speed import MachineSpeed
from assistant.store import Store
from assistant.tui.app import CoveApp
from tui_fakes import FakeEngine


def speed(ms_per_gb: float) -> MachineSpeed:
    return MachineSpeed(ms_per_gb={"Q8_0": ms_per_gb, "Q4_K": ms_per_gb}, threads=2, key="test", measured="2026-12-04")


@pytest.fixture(autouse=True)
def plenty_of_memory(monkeypatch):
    monkeypatch.setattr(advice, "total_memory", lambda: 64 * catalogue.GB)


def test_first_run_line_names_the_command_that_gets_the_recommended_model():
    machine = speed(8)
    entry = catalogue.suggest(64 * catalogue.GB, machine)
    line = advice.first_run_line(machine)
    assert "\n" not in line and "small one for trying Cove out" in line
    assert line.endswith(f"cove models pull {entry.spec}")


def test_first_run_line_on_a_machine_too_slow_for_the_catalogue_says_so_and_names_finetune():
    line = advice.first_run_line(speed(60))
    assert "too slow" in line and "cove finetune" in line and "cove models pull" not in line


def test_first_run_line_before_the_machine_is_measured_sends_to_doctor():
    assert "`cove doctor`" in advice.first_run_line(None)


def test_too_slow_advice_says_what_the_bundled_model_and_finetune_can_do():
    text = "\n".join(advice.advice_lines(speed(60)))
    assert "too slow for every catalogue model" in text and catalogue.fastest().name in text
    assert "bundled model" in text and advice.FINETUNE in text


def test_the_chat_shows_the_line_on_the_bundled_model_only(monkeypatch):
    monkeypatch.setattr(machine_speed, "remembered", lambda threads=None: speed(8))
    assert first_run_notice(locations.BUNDLED_MODEL, None) == advice.first_run_line(speed(8))
    assert first_run_notice(Path("/models/other.gguf"), None) is None


async def test_the_notice_is_shown_above_the_conversation_until_another_model_loads(tmp_path):
    app = CoveApp(Store(tmp_path / "h.sqlite3"), FakeEngine(), load_engine=lambda path: FakeEngine(name="second"),
                  cwd=tmp_path, notice="This is Cove's bundled model.")
    async with app.run_test(size=(120, 34)) as pilot:
        assert str(app.screen.query_one("#notice").render()) == "This is Cove's bundled model."
        await app.screen.run_slash("model", "second.gguf")
        for _ in range(100):
            if app.screen._engine.model_name == "second":
                break
            await pilot.pause(0.02)
        await pilot.pause()
        assert not app.screen.query("#notice")
