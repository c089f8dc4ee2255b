"""KV-cache reuse beyond the longest common prefix: keep cached runs that moved, shift them.

llama-cpp-python's `Llama.generate` keeps only the longest common token prefix of
consecutive prompts. In PSM order (`<PRE> prefix <SUF> suffix <MID>`, the only order
Qwen2.5-Coder, DeepSeek-Coder and CodeLlama know) a keystroke changes the end of the
prefix, so the whole suffix and the middle sentinel after it were evaluated again on
every keystroke: ~130 tokens, over a second for a 0.5B model on a laptop CPU.

`prepare(llama, prompt)` runs right before `llama.generate(prompt)`. It matches the new
prompt against the cached tokens (the longest common prefix, then runs of cached tokens
further on, in order: the suffix after a keystroke, context chunks that moved), keeps
those cells, moves them to their new positions (llama.cpp re-rotates their keys), and
evaluates only the tokens in between. The `Llama` bookkeeping (`input_ids`,
`n_tokens`) then says the cache holds the prompt less its last token, so `generate`
evaluates that one token (which refreshes the logits) and samples.

New tokens must be decoded at positions consecutive to the sequence's last cached one
(llama.cpp checks), yet they come before the kept runs. So each run is first parked in a
sequence of its own (cells can belong to several sequences), sequence 0 is cut back to
the prefix, and the runs are copied back into it in prompt order, each after the new
tokens that precede it. Nothing else in sequence 0 can see a run before it is placed.

Exactness: a kept cell's key and value were computed while it followed the old tokens
before it; the shift corrects its position, not that context. This is the trade that
llama.cpp's server makes with `--cache-reuse` (it shifts only runs of at least 256
tokens and never inserts before one). The tokens a keystroke adds and the last prompt
token are evaluated exactly, and see every kept cell at its right position.
tests/test_kv_reuse.py bounds the difference from a cold evaluation.

Caches that cannot shift (sliding-window attention as in Gemma 3, recurrent models)
keep the prefix-only rule of `Llama.generate`.

A request that can be stopped (`should_cancel`) has its prompt evaluated here in steps
of `STEP` tokens, asked between steps whether it is still wanted: one `llama_decode`
cannot be interrupted, and a warm-up or a speculative completion evaluating hundreds of
prompt tokens in one batch held the model for seconds while the user's next keystroke
waited behind it.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

#: Shortest run of cached tokens kept at a new position. Speed sets no floor: a run costs
#: two metadata updates and its share of one K-shift pass at the next decode, far less
#: than evaluating a single token (benchmarks/keystroke_latency.py: a PSM keystroke that
#: keeps ~130 shifted suffix tokens and evaluates 2 has the time to first token of a
#: 2-token evaluation). Quality does: shorter matches after an edit are mostly
#: coincidences (an indentation token, a bracket) whose cells carry unrelated context.
MIN_RUN = 4
#: Runs kept per request; each is parked in a sequence of its own (llama.cpp allows 256).
MAX_RUNS = 32
#: Prompt tokens evaluated between two checks of whether a request is still wanted: the
#: longest a newer request waits for an older one's prompt. Smaller steps cost batch
#: efficiency: a cold 538-token prompt of a 0.5B-shaped Q8_0 model took 3.17 s in steps of
#: 32 against 2.98 s in one batch on 1 thread here (+6%; docs/BENCHMARKS.md, issue 23).
STEP = 32


@dataclass(frozen=True)
class Reuse:
    """How a prompt's tokens were obtained: evaluated + prefix + shifted = prompt length."""

    evaluated: int
    #: Kept in place: the longest common prefix with the cached tokens.
    prefix: int = 0
    #: Kept and moved to new positions.
    shifted: int = 0
    #: Stopped between steps: the cache holds only part of the prompt, and nothing is to be generated.
    cancelled: bool = False


@dataclass(frozen=True)
class Run:
    """Cached tokens `source .. source+length` reused as prompt tokens `start .. start+length`."""

    start: int
    source: int
    length: int


def prepare(llama: object, prompt: Sequence[int], min_run: int = MIN_RUN,
            should_cancel: Callable[[], bool] | None = None) -> Reuse:
    """Fill the KV cache of `llama` (a `llama_cpp.Llama`) for `prompt` as cheaply as it
    can, so that `llama.generate(prompt)` evaluates at most the last token; with
    `should_cancel`, in steps of `STEP` tokens, stopping when it says so (`Reuse.cancelled`)."""
    import llama_cpp

    prompt = list(prompt)
    cached = llama._input_ids.tolist()
    prefix = common_prefix(cached, prompt)
    if prefix == len(prompt) == len(cached) and not llama._requires_eval:
        return Reuse(evaluated=0, prefix=prefix)  # `generate` samples from the logits it has
    target = prompt[:-1]  # `generate` always evaluates the last token itself
    prefix = min(prefix, len(target))
    memory = llama_cpp.llama_get_memory(llama._ctx.ctx)
    can_shift = llama_cpp.llama_memory_can_shift(memory)
    runs = plan(cached, target, prefix, min_run) if can_shift else []
    stepped = should_cancel is not None and can_shift and len(target) - prefix > STEP
    if not runs and not stepped:
        return Reuse(evaluated=len(prompt) - prefix, prefix=prefix)  # what `generate` does alone
    try:
        done = _rebuild(llama, memory, target, prefix, runs, should_cancel)
    except RuntimeError:
        llama_cpp.llama_memory_clear(memory, False)
        llama.reset()
        return Reuse(evaluated=len(prompt))
    shifted = sum(run.length for run in runs)
    return Reuse(evaluated=len(prompt) - prefix - shifted, prefix=prefix, shifted=shifted, cancelled=not done)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length


def plan(cached: Sequence[int], target: Sequence[int], prefix: int, min_run: int = MIN_RUN) -> list[Run]:
    """Runs of `cached` that reappear in `target` after the common `prefix`, in order in
    both (difflib's longest-block-first matching), at least `min_run` long; the longest
    `MAX_RUNS` of them."""
    matcher = difflib.SequenceMatcher(None, cached[prefix:], target[prefix:], autojunk=False)
    runs = [Run(prefix + block.b, prefix + block.a, block.size)
            for block in matcher.get_matching_blocks() if block.size >= min_run]
    if len(runs) > MAX_RUNS:
        runs = sorted(sorted(runs, key=lambda run: -run.length)[:MAX_RUNS], key=lambda run: run.start)
    return runs


def _rebuild(llama: object, memory: object, target: list[int], prefix: int, runs: list[Run],
             should_cancel: Callable[[], bool] | None = None) -> bool:
    """Make sequence 0 hold `target` at positions 0..len-1: the prefix stays, each run is
    parked in sequence k, shifted and copied back, the tokens between are decoded. False
    when `should_cancel` stopped it: sequence 0 then holds the target up to where it got
    (a run is placed only after the tokens before it), and the bookkeeping says so."""
    import llama_cpp

    for k, run in enumerate(runs, start=1):
        llama_cpp.llama_memory_seq_cp(memory, 0, k, run.source, run.source + run.length)
    llama_cpp.llama_memory_seq_rm(memory, 0, prefix, -1)
    llama.n_tokens = prefix
    llama._requires_eval = True
    step = llama.n_batch if should_cancel is None else min(llama.n_batch, STEP)
    position = prefix
    try:
        with _batch(llama.n_batch) as batch:
            for k, run in enumerate([*runs, Run(len(target), 0, 0)], start=1):  # the last: the tokens after the runs
                position = _decode(llama, batch, target[:run.start], position, step, should_cancel)
                if position < run.start:
                    return False
                if run.length:
                    llama_cpp.llama_memory_seq_add(memory, k, run.source, run.source + run.length,
                                                   run.start - run.source)
                    llama_cpp.llama_memory_seq_cp(memory, k, 0, run.start, run.start + run.length)
                    position = run.start + run.length
    finally:
        for k in range(1, len(runs) + 1):
            llama_cpp.llama_memory_seq_rm(memory, k, -1, -1)
        llama.input_ids[:position] = target[:position]
        llama.n_tokens = position
    return True


@contextlib.contextmanager
def _batch(capacity: int) -> Iterator[object]:
    import llama_cpp

    batch = llama_cpp.llama_batch_init(capacity, 0, 1)
    try:
        yield batch
    finally:
        llama_cpp.llama_batch_free(batch)


def _decode(llama: object, batch: object, target: list[int], position: int, step: int,
            should_cancel: Callable[[], bool] | None) -> int:
    """Evaluate `target[position:]` in sequence 0, `step` tokens per decode, no logits (the
    last prompt token, evaluated by `generate`, produces those); where it got: the end, or
    less when `should_cancel` said stop between steps."""
    import llama_cpp

    while position < len(target):
        if should_cancel is not None and should_cancel():
            return position
        chunk = target[position:position + step]
        batch.n_tokens = len(chunk)
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = position + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = False
        if llama_cpp.llama_decode(llama._ctx.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed while rebuilding the KV cache")
        position += len(chunk)
    return position
