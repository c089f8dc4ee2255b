"""Turning a conversation into a request for the engine.

Two modes, chosen from the model:
- chat: the model carries a chat template (GGUF `tokenizer.chat_template`); the turns are
  rendered with llama-cpp-python's Jinja2 formatter, the same renderer llama.cpp users get.
- completion: base code models have no template, and wrapping code in an invented chat
  format only produces noise. The message *is* code: the reply is its continuation, or,
  when the message holds the cursor marker, the middle that fills the gap (`engine.infill`).

Knows nothing of Textual; the terminal app calls `start_reply` from a worker thread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Mapping, Protocol, Sequence

from assistant.cursor import DEFAULT_MARKER, split_at_marker
from assistant.errors import CoveError
from assistant.fim import ContextChunk, Piece
from assistant.sampling import BASE_MODEL_CHAT, GREEDY, Sampling
from assistant.stopping import StopRules

if TYPE_CHECKING:
    from assistant.engine import Engine
    from assistant.generation import Generation

Role = Literal["user", "assistant"]

#: Where the middle goes in a completion-mode message (the same marker `cove complete` reads).
CURSOR = DEFAULT_MARKER

CHAT, COMPLETION = "chat", "completion"
#: Mode name -> how the status bar labels it.
MODE_LABELS: dict[str, str] = {CHAT: "chat (template)", COMPLETION: "completion (code)"}


#: Sampler settings a user may change (`cove chat` flags, `/set`), as spelled there -> the
#: `Sampling` field: the three that decide whether a base model wanders or loops.
SAMPLING_SETTINGS: dict[str, str] = {"temperature": "temperature", "top-p": "top_p", "repeat-penalty": "repeat_penalty"}


@dataclass(frozen=True)
class ChatConfig:
    """How replies are generated; `cove chat` flags and `/set` override these defaults."""

    #: Longest reply in tokens.
    max_tokens: int = 512
    #: Wall-clock limit for one reply in seconds.
    time_budget_s: float = 300.0
    #: Sampling of chat-mode replies: an instruction-tuned model answers well greedily.
    chat_sampling: Sampling = GREEDY
    #: Sampling of completion mode's continuations: a base model decoded greedily falls into
    #: a loop within a few lines. Infill (a message with the cursor marker) is always greedy.
    completion_sampling: Sampling = BASE_MODEL_CHAT
    #: Regenerate samples at least this hot: greedy decoding would repeat the same reply.
    regenerate_temperature: float = 0.8
    #: auto (chat when the model has a chat template, else completion), chat or completion.
    mode: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in ("auto", *MODE_LABELS):
            raise CoveError(f"unknown chat mode {self.mode!r}: use auto, {', '.join(MODE_LABELS)}")
        if self.max_tokens < 1:
            raise CoveError(f"max_tokens {self.max_tokens} must be at least 1")

    def sampling(self, mode: str) -> Sampling:
        """How replies in `mode` (chat or completion) are sampled."""
        return self.completion_sampling if mode == COMPLETION else self.chat_sampling

    def with_sampling(self, changes: Mapping[str, float], mode: str | None = None) -> "ChatConfig":
        """These settings (names of SAMPLING_SETTINGS) changed for one mode, or for both when
        `mode` is None; an unknown name or a value out of range is a CoveError."""
        fields = {_sampling_field(name): value for name, value in changes.items()}
        try:
            chat = replace(self.chat_sampling, **fields) if mode in (None, CHAT) else self.chat_sampling
            completion = (replace(self.completion_sampling, **fields) if mode in (None, COMPLETION)
                          else self.completion_sampling)
        except ValueError as error:
            raise CoveError(str(error)) from None
        return replace(self, chat_sampling=chat, completion_sampling=completion)

    def for_regenerate(self) -> "ChatConfig":
        def hotter(sampling: Sampling) -> Sampling:
            return replace(sampling, temperature=max(sampling.temperature, self.regenerate_temperature))

        return replace(self, chat_sampling=hotter(self.chat_sampling),
                       completion_sampling=hotter(self.completion_sampling))


def _sampling_field(name: str) -> str:
    if name not in SAMPLING_SETTINGS:
        raise CoveError(f"unknown sampling setting {name!r}: use {', '.join(SAMPLING_SETTINGS)}")
    return SAMPLING_SETTINGS[name]


def parse_sampling_setting(text: str) -> dict[str, float]:
    """`NAME VALUE`, as `/set` takes it (`temperature 0.7`, `top_p 0.9`), as a change for
    `ChatConfig.with_sampling`; a one-line CoveError when it is not one."""
    name, _, value = text.strip().partition(" ")
    name = name.lower().replace("_", "-")
    example = getattr(BASE_MODEL_CHAT, _sampling_field(name))
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise CoveError(f"{name} takes a number, not {value.strip()!r}: /set {name} {example}")
    return {name: number}


class Turn(Protocol):
    """A message as the prompt builders need it (stored messages satisfy this)."""

    role: Role
    content: str


@dataclass(frozen=True)
class Attachment:
    """A file (or a line range of one) added with /add, sent as context with every turn."""

    #: As the user named it, with the line range if any: `src/x.py:10-20`.
    name: str
    text: str
    tokens: int


_RANGE = re.compile(r"^(?P<path>.+?):(?P<start>\d+)-(?P<end>\d+)$")


def read_attachment(spec: str, engine: "Engine", cwd: Path) -> Attachment:
    """Read `FILE` or `FILE:START-END` (1-based, inclusive lines) and count its tokens."""
    match = _RANGE.match(spec)
    path_text = match["path"] if match else spec
    path = (cwd / Path(path_text).expanduser()).resolve()
    if not path.is_file():
        raise CoveError(f"cannot add {path_text}: no such file (paths are relative to {cwd})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CoveError(f"cannot add {path_text}: it is not UTF-8 text") from None
    if match:
        start, end = int(match["start"]), int(match["end"])
        lines = text.splitlines(keepends=True)
        if not 1 <= start <= end <= len(lines):
            raise CoveError(f"cannot add {spec}: {path_text} has {len(lines)} lines; use FILE:START-END within them")
        text = "".join(lines[start - 1:end])
    return Attachment(spec, text, len(engine.tokenize(text)))


def choose_mode(engine: "Engine", requested: str) -> str:
    """The mode a model is used in: the requested one, or for auto, what the model supports."""
    if requested == CHAT and not engine.chat_template:
        raise CoveError(f"{engine.model_name} has no chat template: use --mode completion (or auto)")
    if requested != "auto":
        return requested
    return CHAT if engine.chat_template else COMPLETION


def start_reply(
    engine: "Engine",
    mode: str,
    turns: Sequence[Turn],
    *,
    system: str = "",
    attachments: Sequence[Attachment] = (),
    config: ChatConfig = ChatConfig(),
    should_cancel: Callable[[], bool] | None = None,
) -> "Generation":
    """A streaming reply to the last user turn."""
    if not turns or turns[-1].role != "user":
        raise CoveError("there is no message to answer: type one and press Enter")
    return _BUILDERS[mode](engine, turns, system, attachments, config, should_cancel)


def _stop_rules(config: ChatConfig, stop_texts: Sequence[str] = ()) -> StopRules:
    return StopRules(
        max_tokens=config.max_tokens,
        time_budget_s=config.time_budget_s,
        stop_texts=tuple(text for text in stop_texts if text),
    )


def _chat_reply(engine, turns, system, attachments, config, should_cancel) -> "Generation":
    """Render the turns with the model's template, dropping the oldest turns that do not fit."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    # The engine adds BOS itself; templates that close past turns with `{{ eos_token }}`
    # get the model's real spelling of it.
    eos = engine.token_text(engine.eos_token_id) if engine.eos_token_id is not None else ""
    formatter = Jinja2ChatFormatter(
        template=engine.chat_template, eos_token=eos, bos_token="", add_generation_prompt=True
    )
    head = _system_message(system, attachments)
    room = engine.n_ctx - config.max_tokens
    kept = list(turns)
    while True:
        messages = head + [{"role": turn.role, "content": turn.content} for turn in kept]
        rendered = formatter(messages=messages)
        if len(engine.tokenize(rendered.prompt, special=True)) <= room or len(kept) == 1:
            break
        kept = kept[2:] if len(kept) > 2 else kept[-1:]
    stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
    return engine.generate(
        rendered.prompt, stop=_stop_rules(config, stops), should_cancel=should_cancel, sampling=config.sampling(CHAT)
    )


def _system_message(system: str, attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    """The system prompt with attached files appended, placed first so it stays cached."""
    files = "\n\n".join(f"File {a.name}:\n```\n{a.text}\n```" for a in attachments)
    content = "\n\n".join(part for part in (system, files) if part)
    return [{"role": "system", "content": content}] if content else []


def _completion_reply(engine, turns, system, attachments, config, should_cancel) -> "Generation":
    """The last message is code: fill the cursor gap, or continue it."""
    code = turns[-1].content
    stop = _stop_rules(config)
    if CURSOR in code:
        prefix, suffix = split_at_marker(code, CURSOR)
        extra = [ContextChunk(a.name, a.text) for a in attachments]
        return engine.infill(prefix, suffix, stop=stop, extra=extra, should_cancel=should_cancel)
    pieces = [Piece(f"{a.text}\n") for a in attachments] + [Piece(code)]
    return engine.generate(pieces, stop=stop, should_cancel=should_cancel, sampling=config.sampling(COMPLETION))


#: Mode -> request builder.
_BUILDERS = {CHAT: _chat_reply, COMPLETION: _completion_reply}


def display_markdown(content: str, mode: str) -> str:
    """A message as Markdown: chat text as written, completion-mode code in a fence."""
    if mode != COMPLETION:
        return content
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{content}\n{fence}"


def code_blocks(content: str, mode: str) -> list[str]:
    """The code blocks of a reply in order (what /copy N picks from)."""
    if mode == COMPLETION:
        return [content] if content else []
    from markdown_it import MarkdownIt

    return [token.content for token in MarkdownIt().parse(content) if token.type in ("fence", "code_block")]
