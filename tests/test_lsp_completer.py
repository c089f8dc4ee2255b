"""The completer's scheduling with a fake model: one inference at a time, stale requests
stopped between tokens or dropped before they start, identical requests sharing one run."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from typing import AsyncIterator

import pytest

from lsp.backends import Request, Result
from lsp.completer import Completer, Cursor
from lsp.settings import Settings


class FakeBackend:
    """Writes "x" every few milliseconds until told to stop; remembers every request."""

    description = "fake"
    window_tokens = None
    min_confidence = 0.0

    def __init__(self) -> None:
        self.started: list[str] = []
        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))

    def infill(self, request: Request, should_cancel) -> Result:
        with self.lock:  # one inference at a time, like the engine
            self.started.append(request.prefix)
            text = ""
            for _ in range(request.stop.max_tokens):
                if should_cancel():
                    return Result(text, "cancelled", 1, 0, len(text), 0.0)
                text += "x"
                time.sleep(0.005)
            return Result(text, "max_tokens", 1, 0, len(text), 0.0)

    def close(self) -> None:
        pass


@contextlib.asynccontextmanager
async def loaded(settings: Settings, backend: FakeBackend | None = None) -> AsyncIterator[Completer]:
    """A completer over `backend` (a new FakeBackend by default), loaded, closed afterwards."""
    backend = backend or FakeBackend()
    instance = Completer(settings, log=lambda message: None, load=lambda _: backend)
    assert await instance.load() is None
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
async def completer():
    # Scheduling of real requests only: a speculative run (tests/test_lsp_speculation.py)
    # would add a request of its own whenever it wins the race to the worker.
    async with loaded(Settings(max_tokens=40, time_budget_ms=5000, speculate=False)) as instance:
        yield instance


def cursor(text: str, version: int = 1) -> Cursor:
    return Cursor("file:///x.py", "/x.py", text, len(text), version)


def unchanged() -> int:
    return 1


async def test_a_newer_request_stops_the_running_one_between_tokens(completer: Completer):
    older = asyncio.ensure_future(completer.complete(cursor("a = "), unchanged))
    await asyncio.sleep(0.05)
    newer = await completer.complete(cursor("b = "), unchanged)
    assert await older is None and newer == "x" * 40
    stale = completer.history[0]
    assert stale.served_from == "stale" and 0 < stale.generated_tokens < 40


async def test_a_request_that_went_stale_while_queued_never_runs(completer: Completer):
    first = asyncio.ensure_future(completer.complete(cursor("a = "), unchanged))
    await asyncio.sleep(0.02)
    queued = asyncio.ensure_future(completer.complete(cursor("b = "), unchanged))
    await asyncio.sleep(0)
    last = await completer.complete(cursor("c = "), unchanged)
    assert (await first, await queued, last) == (None, None, "x" * 40)
    assert completer.backend.started == ["a = ", "c = "]


async def test_a_newer_document_version_stops_the_running_request(completer: Completer):
    version = {"now": 1}
    running = asyncio.ensure_future(completer.complete(cursor("a = "), lambda: version["now"]))
    await asyncio.sleep(0.05)
    version["now"] = 2
    assert await running is None


async def test_identical_requests_share_one_run(completer: Completer):
    answers = await asyncio.gather(completer.complete(cursor("a = "), unchanged),
                                   completer.complete(cursor("a = "), unchanged))
    assert answers == ["x" * 40] * 2
    assert completer.backend.started == ["a = "]


async def test_a_repeated_request_is_answered_from_the_cache(completer: Completer):
    await completer.complete(cursor("a = "), unchanged)
    assert await completer.complete(cursor("a = xx", version=2), lambda: 2) == "x" * 38
    assert completer.backend.started == ["a = "] and completer.history[-1].served_from == "cache"


async def test_a_completion_computed_under_old_settings_is_not_cached(completer: Completer):
    running = asyncio.ensure_future(completer.complete(cursor("a = "), unchanged))
    await asyncio.sleep(0.05)  # generating
    completer.apply(Settings(max_tokens=30, time_budget_ms=5000, speculate=False))
    assert await running == "x" * 40  # shown: it answers the request made under the old settings
    assert len(completer.cache) == 0


class UnsureBackend(FakeBackend):
    """Writes `value + 1` in three tokens of given probabilities and, as the engine does,
    ends before the first one less likely than the request's floor."""

    def __init__(self, *probabilities: float) -> None:
        super().__init__()
        self.tokens = list(zip(("value", " +", " 1"), probabilities))

    def infill(self, request: Request, should_cancel) -> Result:
        text, logprobs, reason = "", [], "eog"
        for piece, probability in self.tokens:
            if probability < request.stop.min_probability:
                reason = "unsure"
                break
            text += piece
            logprobs.append((len(piece), math.log(probability)))
        return Result(text, reason, 4, 0, len(logprobs), 0.0, tuple(logprobs))


async def test_a_completion_ends_where_the_model_became_unsure():
    async with loaded(Settings(min_confidence=0.3), UnsureBackend(0.9, 0.2, 0.9)) as instance:
        assert await instance.complete(cursor("total = "), unchanged) == "value"
        assert instance.history[-1].served_from == "model"


async def test_a_completion_unsure_from_its_first_token_is_not_shown():
    async with loaded(Settings(min_confidence=0.3), UnsureBackend(0.1, 0.9, 0.9)) as instance:
        assert await instance.complete(cursor("total = "), unchanged) == ""
        assert instance.history[-1].served_from == "gated"


async def test_a_gate_of_zero_shows_everything():
    async with loaded(Settings(min_confidence=0.0), UnsureBackend(0.01, 0.01, 0.01)) as instance:
        assert await instance.complete(cursor("total = "), unchanged) == "value + 1"


async def test_a_made_up_name_the_model_was_unsure_of_is_not_shown():
    async with loaded(Settings(min_confidence=0.1), UnsureBackend(0.5, 0.9, 0.9)) as instance:
        assert await instance.complete(cursor("total = "), unchanged) == ""
        assert instance.history[-1].served_from == "gated"


async def test_a_name_the_document_mentions_needs_no_more_than_the_gate():
    async with loaded(Settings(min_confidence=0.1), UnsureBackend(0.5, 0.9, 0.9)) as instance:
        assert await instance.complete(cursor("value = 2\ntotal = "), unchanged) == "value + 1"


async def test_a_made_up_name_the_model_was_sure_of_is_shown():
    async with loaded(Settings(min_confidence=0.1), UnsureBackend(0.95, 0.5, 0.5)) as instance:
        assert await instance.complete(cursor("total = "), unchanged) == "value + 1"


async def test_an_unset_gate_is_the_models_own():
    backend = UnsureBackend(0.9, 0.4, 0.9)
    backend.min_confidence = 0.5
    async with loaded(Settings(), backend) as instance:
        assert instance.gate() == 0.5
        assert await instance.complete(cursor("total = "), unchanged) == "value"
