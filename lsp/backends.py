"""Where the infill runs: the in-process llama.cpp engine, or a shared llama.cpp server.

Both take the same `Request` (built by context.py, post-processed by postprocess.py by
the caller), so a team that points its editors at one GPU box gets the same prompts and
the same clean-up as a laptop running the model itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from assistant.confidence import unsure
from assistant.engine import StopRules
from assistant.errors import CoveError
from assistant.fim import ContextChunk
from assistant.healing import split_indentation, strip_indentation

from lsp.settings import DEFAULT_MIN_CONFIDENCE, Settings
from lsp.settings import Backend as BackendKind

ShouldCancel = Callable[[], bool]


@dataclass(frozen=True)
class Request:
    """One infill: the prompt parts and the stop rules."""

    prefix: str
    suffix: str
    extra: tuple[ContextChunk, ...]
    path: str | None
    stop: StopRules


@dataclass(frozen=True)
class Result:
    """The raw middle the model wrote, and what it cost."""

    text: str
    #: eog, max_tokens, time, stop_text, newline or cancelled (the engine's names).
    stop_reason: str
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    #: From the request to the first generated token: the prompt evaluation that the KV
    #: cache saves.
    prompt_ms: float
    #: (characters, log-probability) of each generated token (assistant/confidence.py);
    #: empty when unknown (a server that reports no probabilities).
    token_logprobs: tuple[tuple[int, float], ...] = ()
    #: The infill mode the prompt was laid out in.
    mode: str = ""
    #: Characters the tokens wrote at the start that healing took off (GenerationStats.healed_chars).
    healed_chars: int = 0
    #: Milliseconds per stage inside the backend (GenerationStats.stages; empty when unknown).
    stages: dict[str, float] = dataclasses.field(default_factory=dict)


class InfillBackend(Protocol):
    """What the server needs from a backend."""

    #: A line for logs and the status command: model name and where it runs.
    description: str
    #: Tokens the prompt windows and the answer may take together (context.fit shrinks
    #: the settings' budgets to it), or None when the backend fits prompts itself.
    window_tokens: int | None
    #: The confidence gate for this model when the settings leave `minConfidence` unset.
    min_confidence: float

    def count_tokens(self, text: str) -> int: ...

    def infill(self, request: Request, should_cancel: ShouldCancel) -> Result: ...

    def close(self) -> None: ...


class LocalBackend:
    """The model in this process: assistant.engine.Engine (llama-cpp-python)."""

    #: The engine trims each prompt to its context with the model's own tokenizer.
    window_tokens = None

    def __init__(self, engine: object, owned: bool = True) -> None:
        self.engine = engine
        #: False when the caller keeps the engine (`cove complete`, the measurements):
        #: closing the backend then leaves it open.
        self.owned = owned
        self.description = f"{engine.model_name} ({engine.model_path.name}, {engine.fim.name}, n_ctx {engine.n_ctx})"
        #: The gate measured for this model (its GGUF), else the one measured on others.
        self.min_confidence = engine.measured_gate if engine.measured_gate is not None else DEFAULT_MIN_CONFIDENCE

    @classmethod
    def load(cls, settings: Settings) -> LocalBackend:
        from assistant.config import load_engine_config
        from assistant.engine import Engine

        config, sources = load_engine_config(
            model=settings.model or None, n_ctx=settings.n_ctx, fim_format=settings.fim_format,
            workspace=settings.workspace or None,
        )
        return cls(Engine.load(config, sources))

    def count_tokens(self, text: str) -> int:
        return len(self.engine.tokenize(text))

    def infill(self, request: Request, should_cancel: ShouldCancel) -> Result:
        generation = self.engine.infill(
            request.prefix, request.suffix, stop=request.stop, extra=list(request.extra),
            path=request.path, should_cancel=should_cancel,
        )
        text = generation.result()
        stats = generation.stats
        return Result(text, stats.stop_reason, stats.prompt_tokens, stats.cached_tokens,
                      stats.generated_tokens, stats.prompt_ms, tuple(stats.token_logprobs), stats.format,
                      stats.healed_chars, stats.stages)

    def close(self) -> None:
        if self.owned:
            self.engine.close()


#: llama.cpp server `stop_type` -> the engine's stop reason names.
_REMOTE_STOP = {"eos": "eog", "limit": "max_tokens", "word": "stop_text", "none": "time"}
#: Bytes per token assumed for budgets until the server's tokenizer has been measured
#: (code averages 3-4 with BPE vocabularies; the low end keeps windows inside the budget).
BYTES_PER_TOKEN = 3
#: Budgets count with this share of the bytes per token measured on the sample: files
#: with more symbols or unusual names tokenize more densely than it.
COUNT_SAFETY = 0.8
#: Context tokens kept out of the windows: the BOS and FIM tokens, repository and file
#: names that llama.cpp's /infill adds around them (a dozen with one extra chunk).
PROMPT_OVERHEAD = 32
#: How long loading waits for a server that is still loading its model (HTTP 503).
STARTUP_WAIT_S = 30.0


class RemoteBackend:
    """A llama.cpp server's `/infill` endpoint (`llama-server -m model.gguf`), streamed so a
    cancelled request closes the connection and the server stops generating.

    Token counts are estimates from UTF-8 bytes: asking the server per line would block
    the event loop for a round trip per line. `load` measures the server's tokenizer on a
    sample of code and reads its context size, so windows fit what the server accepts."""

    #: The server's model is unknown to Cove: the gate of a model that records none. The
    #: server reports each token's probability (`n_probs`), and the stream is closed at the
    #: first unsure one, which stops the server's generation too.
    min_confidence = DEFAULT_MIN_CONFIDENCE

    def __init__(self, url: str, api_key: str = "", timeout_s: float = 30.0) -> None:
        self.base_url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.bytes_per_token: float = BYTES_PER_TOKEN
        self.window_tokens: int | None = None
        self.description = f"remote llama.cpp server {url}"

    @classmethod
    def load(cls, settings: Settings) -> RemoteBackend:
        backend = cls(settings.remote_url, settings.api_key)
        backend.size_from_server()
        return backend

    def size_from_server(self) -> None:
        """Read the server's context per request (`/props`) and its tokenizer's bytes per
        token on this module's own source (`/tokenize`), once: a prompt that does not fit
        is refused by the server, and every keystroke would fail."""
        n_ctx = self._props().get("default_generation_settings", {}).get("n_ctx")
        if not isinstance(n_ctx, int):
            raise CoveError(f"{self.base_url}/props reports no context size: check remoteUrl points at llama-server")
        if n_ctx <= 2 * PROMPT_OVERHEAD:
            raise CoveError(f"the llama.cpp server at {self.base_url} gives each request {n_ctx} tokens of "
                            "context, too few for a prompt: start it with a larger -c")
        sample = Path(__file__).read_text(encoding="utf-8")
        tokens = self._call("/tokenize", {"content": sample}).get("tokens") or [0]
        measured = len(sample.encode("utf-8")) / len(tokens)
        self.bytes_per_token = COUNT_SAFETY * measured
        self.window_tokens = n_ctx - PROMPT_OVERHEAD
        self.description = f"remote llama.cpp server {self.base_url} (n_ctx {n_ctx}, {measured:.1f} bytes/token)"

    def _props(self) -> dict:
        """`/props`, once the server has loaded its model (it answers 503 until then)."""
        deadline = time.monotonic() + STARTUP_WAIT_S
        while True:
            try:
                return self._call("/props")
            except _Loading:
                if time.monotonic() > deadline:
                    raise CoveError(f"the llama.cpp server at {self.base_url} was still loading its model "
                                    f"after {STARTUP_WAIT_S:.0f} s") from None
                time.sleep(0.5)

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / self.bytes_per_token)

    def body(self, request: Request) -> dict:
        """The JSON request, in the fields llama.cpp's /infill documents."""
        stop = request.stop
        return {
            "input_prefix": request.prefix,
            "input_suffix": request.suffix,
            "input_extra": [{"filename": c.path, "text": c.text} for c in request.extra],
            "n_predict": stop.max_tokens,
            "t_max_predict_ms": int(1000 * stop.time_budget_s) if stop.time_budget_s else 0,
            "stop": list(stop.stop_texts) + (["\n"] if stop.single_line else []),
            "temperature": 0.0,
            "top_k": 1,
            "cache_prompt": True,
            "stream": True,
            "n_probs": 1,  # each token's log-probability, for the gate
        }

    def infill(self, request: Request, should_cancel: ShouldCancel) -> Result:
        prefix, indentation = split_indentation(request.prefix)  # as the local engine asks (assistant/healing.py)
        body = self.body(dataclasses.replace(request, prefix=prefix))
        floor = request.stop.min_probability
        text, reason, final, logprobs = "", "max_tokens", {}, []
        with self._errors("/infill"):
            with urllib.request.urlopen(self._request("/infill", body), timeout=self.timeout_s) as response:
                for raw in response:
                    if should_cancel():
                        reason = "cancelled"
                        break
                    line = raw.decode("utf-8", errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    if "error" in event:  # a failure after the stream began
                        raise CoveError(f"the llama.cpp server at {self.base_url} failed during /infill: "
                                        f"{_error_message(event)}")
                    tokens = _token_figures(event)
                    if tokens is None:  # no probabilities: the text as it comes
                        text += event.get("content", "")
                    else:
                        sure = next((i for i, (_, logprob) in enumerate(tokens) if unsure(logprob, floor)), None)
                        text += "".join(piece for piece, _ in tokens[:sure])
                        logprobs += [(len(piece), logprob) for piece, logprob in tokens[:sure]]
                        if sure is not None:
                            reason = "unsure"  # closing the stream stops the server's generation
                            break
                    if event.get("stop"):
                        final = event
                        reason = _REMOTE_STOP.get(event.get("stop_type", ""), "max_tokens")
                        break
        timings = final.get("timings", {})
        prompt = int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0))
        answer = strip_indentation(text, indentation)
        stages = {"first_token": float(timings["prompt_ms"]), "generation": float(timings["predicted_ms"])} \
            if "prompt_ms" in timings and "predicted_ms" in timings else {}  # as the server timed them
        return Result(answer, reason, prompt, int(timings.get("cache_n", 0)),
                      int(timings.get("predicted_n", 0)) or len(logprobs), float(timings.get("prompt_ms", 0.0)),
                      tuple(logprobs), healed_chars=len(text) - len(answer), stages=stages)

    def close(self) -> None:
        """Nothing to release: each request is its own connection."""

    def _request(self, path: str, body: dict | None = None) -> urllib.request.Request:
        """GET `path`, or POST `body` as JSON to it, with the API key when there is one."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode()
        return urllib.request.Request(self.base_url + path, data, headers)

    def _call(self, path: str, body: dict | None = None) -> dict:
        """The server's JSON answer to one short request."""
        with self._errors(path):
            with urllib.request.urlopen(self._request(path, body), timeout=self.timeout_s) as response:
                return json.loads(response.read())

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Failures talking to the server as one-line CoveErrors that say what to check
        (HTTP 503 while it loads its model as `_Loading`)."""
        try:
            yield
        except urllib.error.HTTPError as error:
            if error.code == 503:
                raise _Loading(f"the llama.cpp server at {self.base_url} is still loading its model") from None
            detail = _error_message(_json_or_empty(error.read()))
            hint = "check apiKey" if error.code in (401, 403) else (detail or "check the server's log")
            raise CoveError(f"the llama.cpp server at {self.base_url} answered HTTP {error.code} to {path}: {hint}") from None
        except (urllib.error.URLError, OSError) as error:
            reason_text = getattr(error, "reason", error)
            raise CoveError(f"cannot reach the llama.cpp server at {self.base_url} ({reason_text}): check remoteUrl") from None
        except json.JSONDecodeError:
            raise CoveError(f"{self.base_url}{path} did not answer like a llama.cpp server: check remoteUrl") from None


class _Loading(CoveError):
    """The server answered 503: it is up but still loading its model."""


def _json_or_empty(raw: bytes) -> dict:
    try:
        answer = json.loads(raw)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _token_figures(event: dict) -> list[tuple[str, float]] | None:
    """(text, log-probability) of each token of a stream event (`n_probs`); None when the
    server sent no probabilities (an older one) or not for every token."""
    figures = event.get("completion_probabilities")
    if not isinstance(figures, list) or not event.get("content"):
        return None
    try:
        tokens = [(str(entry["token"]), float(entry["logprob"])) for entry in figures]
    except (KeyError, TypeError, ValueError):
        return None
    return tokens if "".join(piece for piece, _ in tokens) == event["content"] else None


def _error_message(answer: dict) -> str:
    """The message of llama-server's `{"error": {"message": ...}}` answers ("" when absent)."""
    error = answer.get("error")
    return str(error.get("message", "")) if isinstance(error, dict) else str(error or "")


#: Settings.backend -> how to build it.
BACKENDS: dict[str, Callable[[Settings], InfillBackend]] = {
    BackendKind.LOCAL: LocalBackend.load,
    BackendKind.REMOTE: RemoteBackend.load,
}


def load_backend(settings: Settings) -> InfillBackend:
    """The configured backend, or a one-line CoveError (ModelError for a bad model)."""
    return BACKENDS[settings.backend](settings)

