"""Speculative next completion (lsp/completer.py `_speculate`) with the fake model."""

from __future__ import annotations

import asyncio

import pytest

from lsp.completer import SPECULATION_PAUSE_S, Completer
from lsp.settings import Settings
from tests.test_lsp_completer import cursor, loaded, unchanged


@pytest.fixture
async def completer():
    async with loaded(Settings(max_tokens=8, time_budget_ms=5000)) as instance:
        yield instance


async def test_accepting_a_completion_is_served_from_the_cache(completer: Completer):
    shown = await completer.complete(cursor("a = "), unchanged)
    assert shown == "x" * 8
    await completer._speculation  # idle time: the completion after acceptance is computed
    assert completer.backend.started == ["a = ", "a = " + shown]
    after = await completer.complete(cursor("a = " + shown, version=2), lambda: 2)
    assert after == "x" * 8
    assert completer.history[-1].served_from == "cache"


async def test_a_real_request_stops_the_speculation(completer: Completer):
    completer.settings = Settings(max_tokens=200, time_budget_ms=5000)
    await completer.complete(cursor("a = "), unchanged)
    await asyncio.sleep(SPECULATION_PAUSE_S + 0.05)  # the user paused: the speculation is generating
    assert len(completer.backend.started) == 2
    typed = await completer.complete(cursor("b = ", version=2), lambda: 2)
    await completer._speculation
    assert typed == "x" * 200
    assert completer.history[-1].served_from == "model"
    speculated = "a = " + "x" * 200
    assert completer.cache.get(speculated, "") is None  # stopped between tokens: nothing cached


async def test_a_keystroke_before_the_pause_starts_no_speculation(completer: Completer):
    await completer.complete(cursor("a = "), unchanged)
    await asyncio.sleep(0.05)  # the next keystroke comes as a typist's does
    await completer.complete(cursor("a = b", version=2), lambda: 2)
    await completer._speculation  # the one after the second answer, which nothing interrupted
    assert completer.backend.started == ["a = ", "a = b", "a = b" + "x" * 8]


async def test_speculation_can_be_turned_off():
    async with loaded(Settings(max_tokens=8, time_budget_ms=5000, speculate=False)) as instance:
        assert await instance.complete(cursor("a = "), unchanged) == "x" * 8
        assert instance._speculation is None and instance.backend.started == ["a = "]
