"""The model: a GGUF file served in-process by llama.cpp (llama-cpp-python).

Knows nothing of Textual or LSP. Prompts are built as token ids, never as strings with
sentinels in them: `Llama.create_completion(suffix=...)` in llama-cpp-python 0.3.x puts
token 0 where the FIM tokens belong, and string prompts let file text inject control
tokens. Consecutive requests share the longest common token prefix in the KV cache
(`Llama.generate` reuses it), so a keystroke costs only its new tokens.
"""

from __future__ import annotations

import codecs
import ctypes
import dataclasses
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Callable, Generator, Iterator, Sequence

import numpy as np

from assistant import formats, kv_reuse, locations, token_healing
from assistant.config import EngineConfig, resolve_model
from assistant.confidence import TokenLogprobs, unsure
from assistant.errors import ModelError
from assistant.fim import GATE_KEY, ContextChunk, FimFormat, Piece, request_kind
from assistant.gguf_file import check_gguf, gguf_architecture, gguf_header, trained_context_length
from assistant.generation import Generation, GenerationStats
from assistant.healing import healed, split_indentation
from assistant.llama_log import warnings_of_llama_cpp
from assistant.sampling import GREEDY, Sampling
from assistant.stopwatch import Stopwatch
from assistant.stopping import StopRules, StopScanner
from assistant.token_healing import TokenHealer, without_head

#: Share of the prompt budget given to the prefix; the rest goes to the suffix (llama.cpp's /infill uses 3:1).
PREFIX_SHARE = 0.75
#: Most of the context kept free for the answer when a prompt must be trimmed: a long
#: max_tokens must not starve the prompt; generation then ends when the context is full.
ANSWER_SHARE = 0.25


class Engine:
    """One loaded model; one inference at a time (`lock`)."""

    def __init__(self, llama: object, config: EngineConfig, model_path: Path) -> None:
        import llama_cpp

        self._llama = llama
        self._lib = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.config = config
        self.model_path = model_path
        self.metadata: dict[str, str] = dict(llama.metadata)
        self.lock = threading.Lock()
        self.fim = formats.detect(self, config.fim_format)
        #: Request kind -> the mode measured best for it, from the GGUF (`auto` only).
        self.fim_by_kind: dict[str, FimFormat] = formats.measured(self) if config.fim_format == "auto" else {}
        self._healer = TokenHealer(self.tokenize, self._piece, llama.n_vocab(),
                                   vocabulary_cache(model_path)) if config.token_healing else None

    # ---- loading -----------------------------------------------------------------

    @classmethod
    def load(cls, config: EngineConfig, sources: dict[str, str] | None = None) -> "Engine":
        """Load the configured (or default) model; ModelError with a one-line reason otherwise."""
        path, _ = resolve_model(config, sources)
        check_gguf(path)
        from llama_cpp import Llama

        trained = trained_context_length(gguf_header(path))
        with warnings_of_llama_cpp() as warnings:
            try:
                llama = Llama(
                    model_path=str(path),
                    # Past the trained context a model only degrades (and llama.cpp warns on stderr).
                    n_ctx=min(config.n_ctx, trained) if trained else config.n_ctx,
                    n_batch=config.n_batch,
                    n_threads=config.n_threads or _cpu_count(),
                    n_gpu_layers=config.n_gpu_layers,
                    flash_attn=config.flash_attn,
                    lora_path=str(config.lora) if config.lora else None,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as error:
                architecture = gguf_architecture(path)
                said = f"; llama.cpp said: {warnings[-1]}" if warnings else ""
                raise ModelError(
                    f"llama.cpp could not load {path} (architecture {architecture!r}): "
                    f"unsupported architecture or damaged file ({error}{said}); try `cove doctor --model {path}`"
                ) from None
        engine = cls(llama, config, path)
        engine._warm_up()
        return engine

    def _warm_up(self) -> None:
        """One throw-away decode, as llama.cpp's own tools do: the first evaluation sets up
        the compute graph, which would otherwise land on the user's first completion."""
        token = self.eos_token_id if self.eos_token_id is not None else 0
        self._llama.eval([token])
        self._llama.reset()

    def close(self) -> None:
        with self.lock:
            if self._healer is not None:
                self._healer.close()
            self._llama.close()

    # ---- facts about the model ---------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.metadata.get("general.name") or self.model_path.stem

    @property
    def architecture(self) -> str:
        return self.metadata.get("general.architecture", "unknown")

    @property
    def n_ctx(self) -> int:
        """Usable context. llama.cpp pads a small context up (to 256), but llama-cpp-python
        sizes its token buffer by the size asked for, so the smaller of the two holds."""
        return min(self._llama.n_ctx(), len(self._llama.input_ids))

    @property
    def measured_gate(self) -> float | None:
        """The confidence gate measured for this model and written into its GGUF, if any."""
        try:
            return round(float(self.metadata[GATE_KEY]), 4)  # stored as float32
        except (KeyError, ValueError):
            return None

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

    @property
    def bos_token_id(self) -> int | None:
        return _token_or_none(self._lib.llama_vocab_bos(self._vocab))

    @property
    def eos_token_id(self) -> int | None:
        return _token_or_none(self._lib.llama_vocab_eos(self._vocab))

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        """Token ids of `text`; with `special` False, control-token spellings stay plain text."""
        if not text:
            return []
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return b"".join(self._piece(token) for token in ids).decode("utf-8", errors="replace")

    def special_token_id(self, text: str) -> int | None:
        """The id of a control token spelled `text`, or None if the model has no such token."""
        ids = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(ids) == 1 and self._lib.llama_vocab_is_control(self._vocab, ids[0]):
            return ids[0]
        return None

    def supported_formats(self) -> list[FimFormat]:
        """Every built-in infill format whose sentinels this model has, best first."""
        return formats.supported(self)

    def fim_token_ids(self) -> dict[str, int | None]:
        """The FIM sentinel ids llama.cpp knows (GGUF metadata, or its own lookup by text)."""
        lib, vocab = self._lib, self._vocab
        found = {"prefix": lib.llama_vocab_fim_pre(vocab), "suffix": lib.llama_vocab_fim_suf(vocab),
                 "middle": lib.llama_vocab_fim_mid(vocab), "pad": lib.llama_vocab_fim_pad(vocab),
                 "file_sep": lib.llama_vocab_fim_sep(vocab), "repo": lib.llama_vocab_fim_rep(vocab)}
        return {name: _token_or_none(token) for name, token in found.items()}

    def token_text(self, token: int) -> str:
        """The vocabulary's spelling of a token, control tokens included (for chat templates)."""
        return self._lib.llama_vocab_get_text(self._vocab, token).decode("utf-8", errors="replace")

    # ---- inference ---------------------------------------------------------------

    def infill(
        self,
        prefix: str,
        suffix: str,
        *,
        stop: StopRules = StopRules(),
        extra: Sequence[ContextChunk] = (),
        path: str | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Generation:
        """Generate the middle between `prefix` and `suffix` in the model's infill format.

        A prefix that ends in a fresh line's indentation is asked from the line's start, and
        the answer comes back without that indentation (assistant/healing.py). Writing the
        next line of the suffix again ends the answer, in every format; a model without FIM
        tokens sees only the prefix (left-to-right mode) and this is how the suffix still
        bounds what it writes. A cursor inside a word is asked from the word's last token
        boundary (assistant/token_healing.py)."""
        watch = Stopwatch()
        fim = self.format_for(prefix)
        prefix, indentation = split_indentation(prefix)
        head, allowed = ("", None) if indentation or self._healer is None else self._healer.split(prefix)
        prefix = prefix[:len(prefix) - len(head)]
        stop = dataclasses.replace(stop, stop_lines=stop.stop_lines + next_code_line(suffix))
        if not fim.sees_suffix:
            suffix = ""
        answer_room = self._answer_room(stop)
        prompt = self.encode(fim.layout(prefix, suffix, extra=extra, path=path))
        if len(prompt) + answer_room > self.n_ctx:
            prefix, suffix = self._fit(fim, prefix, suffix, extra, path, answer_room)
            prompt = self.encode(fim.layout(prefix, suffix, extra=extra, path=path))
        stop_ids = {i for text in fim.stop_texts() if (i := self.special_token_id(text)) is not None}
        stats = GenerationStats(prompt_tokens=len(prompt), format=fim.name, stages=watch.stages)
        pieces = self._stream(prompt, stop, should_cancel, stop_ids, GREEDY, stats, watch, allowed)

        def taken(chars: int) -> None:
            stats.healed_chars = chars

        if indentation:
            pieces = healed(pieces, indentation, taken)
        return Generation(without_head(pieces, head, taken) if head else pieces, stats)

    def _piece(self, token: int) -> bytes:
        """The bytes a token writes (control tokens write none). llama-cpp-python's own
        `detokenize` reads pieces into 32 bytes and garbles longer ones (runs of spaces or
        `=` are single tokens in code vocabularies); llama.cpp says how much room it needs."""
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            written = self._lib.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
            if written >= 0:
                return buffer.raw[:written]
            size = -written

    def format_for(self, prefix: str) -> FimFormat:
        """The infill format for a cursor after `prefix`: the mode this model measured best
        for that request kind (GGUF metadata, `auto` only), else the model's format."""
        return self.fim_by_kind.get(request_kind(prefix), self.fim)

    def generate(
        self,
        prompt: str | Sequence[Piece],
        *,
        stop: StopRules = StopRules(),
        should_cancel: Callable[[], bool] | None = None,
        sampling: Sampling = GREEDY,
    ) -> Generation:
        """Continue `prompt`: a string (control tokens in it are parsed, as in a chat
        template's output) or pieces (only `special` pieces may be control tokens)."""
        watch = Stopwatch()
        ids = self._with_bos(self.tokenize(prompt, special=True)) if isinstance(prompt, str) else self.encode(prompt)
        ids = ids[-(self.n_ctx - self._answer_room(stop)):]
        stats = GenerationStats(prompt_tokens=len(ids), stages=watch.stages)
        return Generation(self._stream(ids, stop, should_cancel, set(), sampling, stats, watch), stats)

    def _answer_room(self, stop: StopRules) -> int:
        """Context tokens kept free for the answer when the prompt is trimmed to fit."""
        return max(1, min(stop.max_tokens, int(self.n_ctx * ANSWER_SHARE)))

    def encode(self, pieces: Sequence[Piece]) -> list[int]:
        """Token ids of a laid-out prompt: control tokens only where a piece is `special`."""
        return self._with_bos([i for piece in pieces for i in self.tokenize(piece.text, special=piece.special)])

    def _with_bos(self, ids: list[int]) -> list[int]:
        """`ids` behind the BOS token when the model's tokenizer asks for one (LLaMA-2, CodeLlama)."""
        if self._lib.llama_vocab_get_add_bos(self._vocab) and self.bos_token_id is not None:
            return [self.bos_token_id, *ids]
        return ids

    def _fit(
        self, fim: FimFormat, prefix: str, suffix: str, extra: Sequence[ContextChunk], path: str | None,
        answer_room: int,
    ) -> tuple[str, str]:
        """Trim the prefix's start and the suffix's end so the prompt and answer fit the context
        (only called when they do not: a keystroke's prompt is tokenized once)."""
        overhead = len(self.encode(fim.layout("", "", extra=extra, path=path))) + 8
        budget = self.n_ctx - answer_room - overhead
        if budget < 2:
            raise ModelError(
                f"the {self.n_ctx}-token context has no room left for the prefix and suffix after "
                f"{overhead} tokens of extra context: raise n_ctx or send less context"
            )
        prefix_ids, suffix_ids = self.tokenize(prefix), self.tokenize(suffix)
        if len(prefix_ids) + len(suffix_ids) <= budget:
            return prefix, suffix
        suffix_room = max(budget - len(prefix_ids), int(budget * (1 - PREFIX_SHARE)))
        suffix_ids = suffix_ids[:suffix_room]
        prefix_ids = prefix_ids[len(prefix_ids) - (budget - len(suffix_ids)):]
        return self.detokenize(prefix_ids), self.detokenize(suffix_ids)

    def _stream(
        self,
        prompt: list[int],
        stop: StopRules,
        should_cancel: Callable[[], bool] | None,
        stop_ids: set[int],
        sampling: Sampling,
        stats: GenerationStats,
        watch: Stopwatch,
        allowed: np.ndarray | None = None,
    ) -> Iterator[str]:
        """The answer's text as it is generated, `stats` filled in on the way; `allowed`:
        the first token's choices (token healing). `watch` times the stages: `prompt`
        (laying the prompt out, tokenizing it, waiting for the model), `kv_reuse` (matching
        it against the KV cache, evaluating the tokens between kept runs or, for a request
        that can be stopped, the prompt in steps), `first_token`
        (the last prompt token's evaluation and the first sample) and `generation`."""
        with self.lock:
            watch.lap("prompt")
            started = time.perf_counter()
            deadline = None  # from the first token: the budget bounds generation, never the prompt
            line_done = False  # and never cuts the answer's first line (llama-server's t_max_predict_ms)
            reuse = kv_reuse.prepare(self._llama, prompt, should_cancel=should_cancel)
            stats.evaluated_tokens, stats.prefix_tokens, stats.shifted_tokens = reuse.evaluated, reuse.prefix, reuse.shifted
            stats.cached_tokens = reuse.prefix + reuse.shifted
            watch.lap("kv_reuse")
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            scanner = StopScanner(stop)
            first_token_at = None
            tokens = self._tokens(prompt, sampling, allowed)
            stats.stop_reason = "cancelled" if reuse.cancelled else "max_tokens"
            try:
                for token, logprob in () if reuse.cancelled else tokens:
                    if first_token_at is None:
                        first_token_at = time.perf_counter()
                        watch.lap("first_token")
                    if token in stop_ids or self._lib.llama_vocab_is_eog(self._vocab, token):
                        stats.stop_reason = "eog"
                        break
                    if unsure(logprob, stop.min_probability):
                        stats.stop_reason = "unsure"
                        break
                    stats.generated_tokens += 1
                    piece = decoder.decode(self._piece(token))
                    stats.token_logprobs.append((len(piece), logprob))
                    text = scanner.feed(piece)
                    if text:
                        line_done = line_done or "\n" in text
                        yield text
                    if scanner.stopped_by is not None:
                        stats.stop_reason = scanner.reason
                        break
                    if stats.generated_tokens >= stop.max_tokens:
                        break
                    if len(prompt) + stats.generated_tokens >= self.n_ctx:
                        stats.stop_reason = "context_full"
                        break
                    if should_cancel is not None and should_cancel():
                        stats.stop_reason = "cancelled"
                        break
                    deadline = deadline or (first_token_at + stop.time_budget_s if stop.time_budget_s else None)
                    if deadline is not None and line_done and time.perf_counter() >= deadline:
                        stats.stop_reason = "time"
                        break
                if scanner.stopped_by is None:
                    tail = scanner.feed(decoder.decode(b"", final=True)) + scanner.flush()
                    if scanner.reason is not None:
                        stats.stop_reason = scanner.reason
                    if tail:
                        yield tail
            finally:
                tokens.close()
                ended = time.perf_counter()
                if first_token_at is None:
                    watch.lap("first_token")
                else:
                    watch.lap("generation")
                first_token_at = first_token_at or ended
                stats.prompt_ms = 1000 * (first_token_at - started)
                stats.generation_ms = 1000 * (ended - first_token_at)
                stats.total_ms = 1000 * (ended - started)


    def _tokens(self, prompt: list[int], sampling: Sampling,
                allowed: np.ndarray | None) -> Generator[tuple[int, float], None, None]:
        """Sampled tokens and their log-probabilities. With `allowed` (token healing) the
        first is the likeliest of those, and generation goes on from it."""
        logprob_of = TokenLogprobs(self._llama)
        kwargs = sampling.llama_kwargs()
        tokens = self._llama.generate(prompt, **kwargs)
        try:
            if allowed is not None:
                first = next(tokens, None)
                if first is None:
                    return
                chosen, logprob = token_healing.choose(logprob_of.logits(), allowed)
                if chosen != first:  # decode the chosen token instead (its prompt is cached)
                    tokens.close()
                    tokens = self._llama.generate([*prompt, chosen], **kwargs)
                yield chosen, logprob
            for token in tokens:
                yield token, logprob_of(token)
        finally:
            tokens.close()


def vocabulary_cache(model_path: Path) -> Path:
    """Where token healing keeps the vocabulary index of a model file (by path, size and
    modification time: a file replaced in place gets a new one)."""
    stat = model_path.stat()
    key = hashlib.sha256(f"{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    return locations.cache_dir() / "vocabulary" / f"{key}.npz"


def next_code_line(suffix: str) -> tuple[str, ...]:
    """The first non-blank line after the cursor's line, as a stop line (or none)."""
    following = [line for line in suffix.split("\n")[1:] if line.strip()]
    return (following[0],) if following else ()


def _token_or_none(token: int) -> int | None:
    return None if token < 0 else token


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
