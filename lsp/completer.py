"""Completions as a service: one model, one inference at a time, never behind a stale request.

The LSP handlers (server.py) hand over a `Cursor` snapshot; this module runs
context.py -> backend -> postprocess.py, with the result cache in front. Inference runs
on a single worker thread, never on the event loop. A running generation checks between
tokens whether it is still wanted: a newer request, a newer document version or
`$/cancelRequest` stop it, and a request that became stale while queued returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Sequence

from assistant.confidence import shown, summary
from assistant.engine import StopRules
from assistant.errors import CoveError
from assistant.stopwatch import Stopwatch

from lsp import context, grounding, postprocess
from lsp.backends import InfillBackend, LocalBackend, Request, Result, load_backend
from lsp.cache import ResultCache
from lsp.health import Health
from lsp.settings import Settings

#: Settings that need the backend loaded again when they change.
BACKEND_SETTINGS = ("model", "n_ctx", "fim_format", "backend", "remote_url", "api_key")
#: Steps a warm-up evaluates the prefix in: a real request waits for one step at most.
WARM_STAGES = 4
#: Token counts remembered per line of text (lines repeat from keystroke to keystroke).
COUNT_CACHE = 16384
#: How long the user must leave a shown completion alone before the one after its acceptance
#: is computed: longer than the gap between keystrokes while typing (100-200 ms). Started at
#: once, it ran between keystrokes, and its prompt (the shown completion, evaluated as one
#: batch that cannot be stopped) held the worker for 200 ms and more before the next
#: keystroke could start (the `queue` stage, benchmarks/keystroke_latency.py).
SPECULATION_PAUSE_S = 0.25


@dataclass(frozen=True)
class Cursor:
    """A snapshot of one completion request: the document as it was, and where."""

    uri: str
    path: str
    text: str  #: with "\n" line ends (context.normalize_newlines)
    offset: int
    version: int | None


@dataclass(frozen=True)
class Record:
    """What one request cost, for `cove.status` and the benchmarks."""

    served_from: str  #: "cache", "model", "gated" (the model was unsure), "stale" or "none"
    latency_ms: float
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    prompt_ms: float = 0.0
    stop_reason: str = ""
    #: (characters, log-probability) of the tokens that wrote the completion as post-processed.
    shown_logprobs: tuple[tuple[int, float], ...] = ()
    mode: str = ""
    #: Milliseconds per stage, in order (assistant/stopwatch.py): `document` (the server's
    #: snapshot), `loading` (waiting for the model), `context` (stop rules, windows, extra
    #: chunks, the result cache), `queue` (waiting for the worker: an earlier request, a
    #: speculative completion or a warm-up), the backend's own (the engine's `prompt`,
    #: `kv_reuse`, `first_token`, `generation`), `handback` (the answer reaching the event
    #: loop), `postprocess` (clean-up and the made-up-name check) and `reply` (placing it in
    #: the client's units; the server adds it to this record once the answer is built).
    stages: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def mean_logprob(self) -> float | None:
        return summary([logprob for _, logprob in self.shown_logprobs])[0]

    @property
    def min_logprob(self) -> float | None:
        return summary([logprob for _, logprob in self.shown_logprobs])[1]


class _Job:
    """One generation that one or more identical requests wait for."""

    def __init__(self, watch: Stopwatch) -> None:
        self.cancelled = threading.Event()
        self.future: asyncio.Future | None = None
        #: The stages of the request that started the job (others sharing it wait as `shared`).
        self.watch = watch


class Completer:
    """Runs completions for the server; holds the backend, the cache and the worker."""

    def __init__(self, settings: Settings, log: Callable[[str], None],
                 report: Callable[[str], None] = lambda message: None,
                 load: Callable[[Settings], InfillBackend] | None = None) -> None:
        self.settings = settings
        self.log = log
        #: Builds the backend from the settings (`cove complete` hands in its own engine);
        #: None: the configured backend (load_backend).
        self._load_backend = load
        #: Failing infills; the first of each episode goes to `report` (the server shows it).
        self.health = Health(report)
        self.cache = ResultCache(settings.cache_size)
        self.backend: InfillBackend | None = None
        self.load_error: str | None = None
        self.history: deque[Record] = deque(maxlen=1024)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cove-infill")
        self._loading: asyncio.Future | None = None
        #: Set once the first load has been asked for (after `initialized` and the settings pull).
        self._load_requested = asyncio.Event()
        self._count: Callable[[str], int] = len
        self._newest: _Job | None = None
        self._in_flight: dict[tuple, _Job] = {}
        self._extra_memo: tuple[object, tuple] = (None, ())
        #: The running speculative completion (`_speculate`) and warm-up (`warm`), if any.
        self._speculation: asyncio.Future | None = None
        self._warming: asyncio.Future | None = None

    # ---- the backend ---------------------------------------------------------------

    def load(self) -> asyncio.Future:
        """(Re)load the backend on the worker (after any running request); the future
        resolves to the error message, or None when it loaded."""
        self._newest = None  # whatever runs now is stale
        self.cache.clear()
        self._loading = asyncio.get_running_loop().run_in_executor(self._worker, self._load)
        self._load_requested.set()
        return self._loading

    def _load(self) -> str | None:
        old, self.backend = self.backend, None
        if old is not None:
            old.close()
        try:
            backend = (self._load_backend or load_backend)(self.settings)
        except CoveError as error:
            self.load_error = str(error)
            return self.load_error
        except Exception as error:  # llama.cpp failures outside ModelError: the server must stay up
            self.load_error = f"could not start the completion backend: {type(error).__name__}: {error}"
            return self.load_error
        self.backend, self.load_error = backend, None
        self.health.recovered()
        self._count = functools.lru_cache(maxsize=COUNT_CACHE)(backend.count_tokens)
        self.log(f"cove: completions from {backend.description}")
        return None

    def apply(self, settings: Settings) -> bool:
        """Take new settings; True when the backend must be loaded again."""
        reload = any(getattr(settings, name) != getattr(self.settings, name) for name in BACKEND_SETTINGS)
        if settings.cache_size != self.settings.cache_size:
            self.cache.size = settings.cache_size
        if not reload:
            self.cache.clear()  # post-processing may differ now
        self.settings = settings
        return reload

    def close(self) -> None:
        self._newest = None
        for background in (self._speculation, self._warming):
            if background is not None:
                background.cancel()
        self._worker.shutdown(wait=True, cancel_futures=True)
        if self.backend is not None:
            self.backend.close()

    @property
    def running(self) -> int:
        """Completions requested and not finished (requests sharing one count once)."""
        return len(self._in_flight)

    # ---- completions ---------------------------------------------------------------

    async def complete(self, cursor: Cursor, version_now: Callable[[], int | None],
                       sources: Sequence[context.Source] = (), watch: Stopwatch | None = None) -> str | None:
        """The completion at `cursor`: text to insert ("" for nothing to add), or None when
        the request went stale (superseded or cancelled) before it finished. `watch` times
        its stages (Record.stages), from where the caller started it."""
        started = time.perf_counter()
        watch = watch or Stopwatch()
        settings = self.settings
        rules = self._rules(cursor)
        if rules is None:
            self._newest = None  # the user moved on: whatever runs is stale
            return self._done("none", started, "", watch)
        if not (self._load_requested.is_set() and self._loading.done()):
            await self._load_requested.wait()
            await asyncio.shield(self._loading)
            watch.lap("loading")
        backend = self.backend
        if backend is None:
            return self._done("none", started, "", watch)
        window, request = self._request(cursor, rules, sources, backend)
        cached = self.cache.get(window.prefix, window.suffix)
        watch.lap("context")
        if cached is not None:
            self._newest = None
            return self._done("cache", started, cached, watch)
        key = (cursor.uri, cursor.version, cursor.offset, window.prefix, window.suffix)
        job = self._in_flight.get(key)
        if job is None:  # an identical request (completion and inline at once) shares the job
            job = self._in_flight[key] = _Job(watch)

            def should_cancel() -> bool:
                return job.cancelled.is_set() or self._newest is not job or version_now() != cursor.version

            self._newest = job  # before the worker can look: it must not find itself stale
            job.future = asyncio.get_running_loop().run_in_executor(self._worker, self._timed_infill, request,
                                                                    should_cancel, watch)
            job.future.add_done_callback(lambda _: self._in_flight.pop(key, None))
        self._newest = job
        try:
            result = await asyncio.shield(job.future)
        except asyncio.CancelledError:
            job.cancelled.set()
            self.history.append(Record("stale", 1000 * (time.perf_counter() - started)))
            raise
        watch.lap("handback" if job.watch is watch else "shared")
        if result is None or result.stop_reason == "cancelled":
            return self._done("stale", started, None, watch, result)
        completion, served_from, shown_logprobs = self._finish(result, window, rules, cursor, sources)
        watch.lap("postprocess")
        self._remember(settings, window, completion)
        if completion and self.settings.speculate:
            self._speculation = asyncio.ensure_future(self._speculate(cursor, completion, sources, job))
        return self._done(served_from, started, completion, watch, result, shown_logprobs)

    def _rules(self, cursor: Cursor) -> postprocess.Rules | None:
        """The stop rules for the cursor's place in its line, or None for no completion there."""
        line_prefix, line_suffix = context.cursor_line(cursor.text, cursor.offset)
        return postprocess.rules_for(line_prefix, line_suffix, multiline=self.settings.multiline,
                                     max_chars_after_cursor=self.settings.max_chars_after_cursor)

    def _request(self, cursor: Cursor, rules: postprocess.Rules, sources: Sequence[context.Source],
                 backend: InfillBackend) -> tuple[context.Window, Request]:
        """The prompt windows at `cursor` and the backend request for them."""
        settings = self.settings
        budget, max_tokens = context.fit(context.Budget(settings.prefix_tokens, settings.suffix_tokens,
                                                        settings.extra_tokens),
                                         settings.max_tokens, backend.window_tokens)
        window = context.window(cursor.text, cursor.offset, budget, self._count)
        request = Request(window.prefix, window.suffix, self._extra(cursor, sources, budget.extra), cursor.path,
                          StopRules(max_tokens=max_tokens, time_budget_s=settings.time_budget_ms / 1000,
                                    single_line=rules.single_line, stop_texts=rules.stop_texts,
                                    min_probability=self.gate()))
        return window, request

    def gate(self) -> float:
        """The confidence gate in force: the setting, else the backend's (its model's measured
        one). The model's answer ends before the first token it gave less than this
        probability, so only what it was sure of is shown, and an unsure answer costs one
        token's time."""
        if self.settings.min_confidence is not None:
            return self.settings.min_confidence
        return self.backend.min_confidence if self.backend is not None else 0.0

    def _finish(self, result: Result, window: context.Window, rules: postprocess.Rules, cursor: Cursor,
                sources: Sequence[context.Source]) -> tuple[str, str, tuple[tuple[int, float], ...]]:
        """The completion to show for a model result, where it is served from ("gated": the
        model was unsure from the first token, or of a name it made up there), and the
        figures of the tokens that wrote it."""
        written = postprocess.finish(result.text, prefix=window.prefix, suffix=window.suffix,
                                     line_prefix=window.line_prefix, rules=rules)
        completion = grounding.cut_new_names(
            written, shown(result.token_logprobs, len(written), result.healed_chars), window.line_prefix,
            (cursor.text, *(source.text for source in sources)),
            grounding.names_floor(self.gate(), self.settings.min_confidence_new_name), cursor.path).rstrip()
        completion = completion if completion.strip() else ""
        gated = not completion and (result.stop_reason == "unsure" or bool(written))
        return completion, "gated" if gated else "model", shown(result.token_logprobs, len(completion), result.healed_chars)

    def warm(self, cursor: Cursor, sources: Sequence[context.Source] = ()) -> asyncio.Future:
        """Warm-up: evaluate, in idle time, the prompt a completion at `cursor` would need
        (one token is sampled, nothing shown or cached), so that the first completion there
        finds it in the KV cache. The prefix goes in `WARM_STAGES` steps, each reusing the
        last (assistant/kv_reuse.py), and any real request stops it between steps."""
        if self._warming is not None:
            self._warming.cancel()
        self._warming = asyncio.ensure_future(self._warm(cursor, sources))
        return self._warming

    async def _warm(self, cursor: Cursor, sources: Sequence[context.Source]) -> None:
        await self._load_requested.wait()
        await asyncio.shield(self._loading)
        rules, backend, owner = self._rules(cursor), self.backend, self._newest
        if rules is None or backend is None:
            return
        window, request = self._request(cursor, rules, sources, backend)
        if self.cache.get(window.prefix, window.suffix) is not None:
            return
        one_token = dataclasses.replace(request.stop, max_tokens=1)
        for stage in range(1, WARM_STAGES + 1):
            cut = window.prefix.rfind("\n", 0, len(window.prefix) * stage // WARM_STAGES) + 1
            step = dataclasses.replace(request, prefix=window.prefix[:cut] if stage < WARM_STAGES else window.prefix,
                                       stop=one_token)
            result = await asyncio.get_running_loop().run_in_executor(
                self._worker, self._infill, step, lambda: self._newest is not owner)
            if result is None or result.stop_reason in ("cancelled", "error"):
                return

    async def _speculate(self, cursor: Cursor, completion: str, sources: Sequence[context.Source],
                         owner: _Job) -> None:
        """Speculative FIM (llama.vscode): while the user reads a shown completion, compute the
        one that follows its acceptance and put it in the result cache, so that accepting and
        going on costs nothing. It starts once the user has paused (`SPECULATION_PAUSE_S`), not
        between keystrokes, queues behind real requests on the worker, and any real request
        stops it (before it starts or between tokens): one that came after `owner`, the job
        that wrote `completion`."""
        accepted = dataclasses.replace(cursor, text=cursor.text[:cursor.offset] + completion
                                       + cursor.text[cursor.offset:], offset=cursor.offset + len(completion))
        await asyncio.sleep(SPECULATION_PAUSE_S)
        rules, backend = self._rules(accepted), self.backend
        if rules is None or backend is None or self._newest is not owner:
            return
        settings = self.settings
        window, request = self._request(accepted, rules, sources, backend)
        if self.cache.get(window.prefix, window.suffix) is not None:
            return
        result = await asyncio.get_running_loop().run_in_executor(
            self._worker, self._infill, request, lambda: self._newest is not owner)
        if result is not None and result.stop_reason not in ("cancelled", "error"):
            self._remember(settings, window, self._finish(result, window, rules, accepted, sources)[0])

    def _remember(self, settings: Settings, window: context.Window, completion: str) -> None:
        """Cache a completion computed under `settings`, unless new settings came meanwhile
        (they emptied the cache: a result of the old ones must not refill it)."""
        if self.settings is settings:
            self.cache.put(window.prefix, window.suffix, completion)

    def _timed_infill(self, request: Request, should_cancel: Callable[[], bool], watch: Stopwatch) -> Result | None:
        """`_infill`, its wait for the worker and the backend's stages added to `watch`."""
        watch.lap("queue")
        result = self._infill(request, should_cancel)
        if result is not None:
            watch.took(result.stages)
        return result

    def _infill(self, request: Request, should_cancel: Callable[[], bool]) -> Result | None:
        """On the worker: None at once when the request is already stale."""
        backend = self.backend
        if backend is None or should_cancel():
            return None
        try:
            result = backend.infill(request, should_cancel)
        except CoveError as error:
            self.log(f"cove: {error}")
            self.health.failed(str(error))
            return Result("", "error", 0, 0, 0, 0.0)
        self.health.recovered()
        return result

    def _extra(self, cursor: Cursor, sources: Sequence[context.Source], budget: int) -> tuple:
        """Chunks of other files, recomputed only when the lines above the cursor or the
        other files change (so the prompt's first part stays the same while typing)."""
        if budget <= 0 or not sources:
            return ()
        query = context.similarity_query(cursor.text, cursor.offset)
        memo_key = (query, budget, tuple((s.path, hash(s.text)) for s in sources))
        if self._extra_memo[0] != memo_key:
            self._extra_memo = (memo_key, context.similar_chunks(sources, query, budget, self._count))
        return self._extra_memo[1]

    def _done(self, served_from: str, started: float, completion: str | None, watch: Stopwatch,
              result: Result | None = None, shown_logprobs: tuple[tuple[int, float], ...] = ()) -> str | None:
        record = Record(served_from, 1000 * (time.perf_counter() - started), stages=watch.stages)
        if result is not None:
            record = dataclasses.replace(record, prompt_tokens=result.prompt_tokens, cached_tokens=result.cached_tokens,
                                         generated_tokens=result.generated_tokens, prompt_ms=result.prompt_ms,
                                         stop_reason=result.stop_reason, shown_logprobs=shown_logprobs,
                                         mode=result.mode)
        self.history.append(record)
        return completion


@contextlib.asynccontextmanager
async def over_engine(engine: object, settings: Settings) -> AsyncIterator[Completer]:
    """A loaded completer over an engine the caller keeps (open after the block): how
    `cove complete` and the editor-request measurements ask what an editor would get."""
    completer = Completer(settings, log=lambda message: None, load=lambda _: LocalBackend(engine, owned=False))
    try:
        if (error := await completer.load()) is not None:
            raise CoveError(error)
        yield completer
    finally:
        completer.close()
