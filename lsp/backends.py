"""Where the infill runs: the in-process llama.cpp engine, or a shared llama.cpp server.

Both take the same `Request` (built by context.py, post-processed by postprocess.py by
the caller), so a team that points its editors at one GPU box gets the same prompts and
the same clean-up as a laptop running the model itself.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Protocol

from assistant.engine import StopRules
from assistant.errors import CoveError
from assistant.fim import ContextChunk
from assistant.healing import split_indentation, strip_indentation

from lsp.settings import Backend as BackendKind
from lsp.settings import Settings

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


class InfillBackend(Protocol):
    """What the server needs from a backend."""

    #: A line for logs and the status command: model name and where it runs.
    description: str

    def count_tokens(self, text: str) -> int: ...

    def infill(self, request: Request, should_cancel: ShouldCancel) -> Result: ...

    def close(self) -> None: ...


class LocalBackend:
    """The model in this process: assistant.engine.Engine (llama-cpp-python)."""

    def __init__(self, engine: object) -> None:
        self.engine = engine
        fim = engine.fim.name if engine.fim else "no infill format"
        self.description = f"{engine.model_name} ({engine.model_path.name}, {fim}, n_ctx {engine.n_ctx})"

    @classmethod
    def load(cls, settings: Settings) -> LocalBackend:
        from assistant.config import load_engine_config
        from assistant.engine import Engine

        config, sources = load_engine_config(
            model=settings.model or None, n_ctx=settings.n_ctx, fim_format=settings.fim_format
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
                      stats.generated_tokens, stats.prompt_ms)

    def close(self) -> None:
        self.engine.close()


#: llama.cpp server `stop_type` -> the engine's stop reason names.
_REMOTE_STOP = {"eos": "eog", "limit": "max_tokens", "word": "stop_text", "none": "time"}
#: Bytes per token assumed for budgets when the tokenizer is on another machine (code
#: averages 3-4 with BPE vocabularies; the low end keeps windows inside the budget).
BYTES_PER_TOKEN = 3


class RemoteBackend:
    """A llama.cpp server's `/infill` endpoint (`llama-server -m model.gguf`), streamed so a
    cancelled request closes the connection and the server stops generating."""

    def __init__(self, url: str, api_key: str = "", timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/infill"
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.description = f"remote llama.cpp server {url}"

    @classmethod
    def load(cls, settings: Settings) -> RemoteBackend:
        return cls(settings.remote_url, settings.api_key)

    def count_tokens(self, text: str) -> int:
        """An estimate: asking the server per line would cost a round trip per line."""
        return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)

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
        }

    def infill(self, request: Request, should_cancel: ShouldCancel) -> Result:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        prefix, indentation = split_indentation(request.prefix)  # as the local engine asks (assistant/healing.py)
        body = self.body(dataclasses.replace(request, prefix=prefix))
        http_request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        text, reason, final = "", "max_tokens", {}
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout_s) as response:
                for raw in response:
                    if should_cancel():
                        reason = "cancelled"
                        break
                    line = raw.decode("utf-8", errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    text += event.get("content", "")
                    if event.get("stop"):
                        final = event
                        reason = _REMOTE_STOP.get(event.get("stop_type", ""), "max_tokens")
                        break
        except urllib.error.HTTPError as error:
            hint = "check apiKey" if error.code in (401, 403) else "check the server's log"
            raise CoveError(f"the llama.cpp server at {self.url} answered HTTP {error.code}: {hint}") from None
        except (urllib.error.URLError, OSError) as error:
            reason_text = getattr(error, "reason", error)
            raise CoveError(f"cannot reach the llama.cpp server at {self.url} ({reason_text}): check remoteUrl") from None
        except json.JSONDecodeError:
            raise CoveError(f"{self.url} did not answer like a llama.cpp server: check remoteUrl") from None
        timings = final.get("timings", {})
        prompt = int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0))
        return Result(strip_indentation(text, indentation), reason, prompt, int(timings.get("cache_n", 0)),
                      int(timings.get("predicted_n", 0)), float(timings.get("prompt_ms", 0.0)))

    def close(self) -> None:
        """Nothing to release: each request is its own connection."""


#: Settings.backend -> how to build it.
BACKENDS: dict[str, Callable[[Settings], InfillBackend]] = {
    BackendKind.LOCAL: LocalBackend.load,
    BackendKind.REMOTE: RemoteBackend.load,
}


def load_backend(settings: Settings) -> InfillBackend:
    """The configured backend, or a one-line CoveError (ModelError for a bad model)."""
    return BACKENDS[settings.backend](settings)

