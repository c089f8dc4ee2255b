"""How good completions are where editors ask for them: cursors in held-out files, through
the language server's own completer (windows, stop rules, post-processing, gating).

Two request kinds make up most of what an editor asks:
- `mid-line`: the user is typing a line; everything after the cursor on that line is
  removed (it has not been typed yet), the lines below stay;
- `fresh-line`: the user has opened a new line; the line is empty but for its
  indentation and the cursor sits after it.
A completion is scored on its first line against the removed text: exact match, and the
characters a user keeps (the longest correct start of the completion); characters shown
beyond that are shown wrongly. The benchmark (benchmarks/line_completion.py), the
training recipe and `cove finetune` all measure with this module, so the best infill
mode per kind that a model carries in its GGUF comes from the same measurement.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from assistant.confidence import unsure
from assistant.fim import FRESH_LINE, MID_LINE
from lsp.context import cursor_line
from lsp.grounding import cut_new_names, names_floor
from lsp.settings import Settings

KINDS = (MID_LINE, FRESH_LINE)
#: Lines shorter than this (stripped) are not asked about: `)` or `else:` say little.
MIN_LINE_CHARS = 6


@dataclass(frozen=True)
class Task:
    """One editor request: the document as the editor has it, the cursor and the answer."""

    kind: str
    path: str
    text: str
    offset: int
    truth: str


@dataclass(frozen=True)
class Outcome:
    """What the completer showed for a task, and how sure the model was of each token."""

    task: Task
    completion: str
    latency_ms: float
    #: (characters, log-probability) of the tokens that wrote the completion.
    tokens: tuple[tuple[int, float], ...] = ()

    def cut(self, floor: float, new_names: float = 0.0) -> "Outcome":
        """This outcome as the gates leave it: the completion ends before the first token the
        model gave less than `floor` probability (as StopRules.min_probability), and before
        the first name the document does not mention that it gave a token of less than
        `new_names` (lsp/grounding.py; off with the token gate), as the completer does."""
        starts = [0, *itertools.accumulate(length for length, _ in self.tokens)]
        first_unsure = next((n for n, (_, logprob) in enumerate(self.tokens) if unsure(logprob, floor)), None)
        completion = self.completion if first_unsure is None else self.completion[:starts[first_unsure]]
        line_prefix = cursor_line(self.task.text, self.task.offset)[0]
        completion = cut_new_names(completion, self.tokens, line_prefix, [self.task.text],
                                   names_floor(floor, new_names), self.task.path).rstrip()
        if completion == self.completion:
            return self
        tokens = tuple(token for token, start in zip(self.tokens, starts) if start < len(completion))
        return Outcome(self.task, completion, self.latency_ms, tokens)

    @property
    def first_line(self) -> str:
        return self.completion.split("\n", 1)[0].rstrip()

    @property
    def shown(self) -> bool:
        return bool(self.first_line.strip())

    @property
    def exact(self) -> bool:
        return self.shown and self.first_line == self.task.truth

    @property
    def kept(self) -> int:
        """Characters of the truth that the completion starts with."""
        common = 0
        for ours, theirs in zip(self.first_line, self.task.truth):
            if ours != theirs:
                break
            common += 1
        return common

    @property
    def wrong(self) -> int:
        """Characters shown beyond the correct start (what a user must delete or ignore)."""
        return len(self.first_line) - self.kept


def modes_of(engine: object) -> list[str]:
    """Every infill mode `engine`'s model supports (templates aside), then left to right."""
    return [f.name for f in engine.supported_formats() if f.order.value != "template"] + ["ltr"]


def gguf_modes(model: Path) -> list[str]:
    """`modes_of` the GGUF at `model` (loaded for the question, then closed)."""
    from assistant.config import EngineConfig
    from assistant.engine import Engine

    engine = Engine.load(EngineConfig(model=model, n_ctx=256))
    try:
        return modes_of(engine)
    finally:
        engine.close()


def make_tasks(files: Sequence[tuple[str, str]], per_kind: int, seed: int = 0) -> list[Task]:
    """`per_kind` requests of each kind from `files` ((path, text) pairs), chosen at random
    but reproducibly: a line, then for mid-line a cursor inside it."""
    rng = random.Random(seed)
    lines = [(path, text, number) for path, text in files
             for number, line in enumerate(text.split("\n")) if len(line.strip()) >= MIN_LINE_CHARS and number > 0]
    tasks: list[Task] = []
    for kind in KINDS:
        for path, text, number in rng.sample(lines, min(per_kind, len(lines))):
            tasks.append(_task(kind, path, text, number, rng))
    return tasks


def _task(kind: str, path: str, text: str, number: int, rng: random.Random) -> Task:
    rows = text.split("\n")
    line = rows[number]
    indent = len(line) - len(line.lstrip())
    if kind == MID_LINE:
        cut = rng.randrange(indent + 1, len(line.rstrip()))
        typed, truth = line[:cut], line[cut:].rstrip()
    else:
        typed, truth = line[:indent], line.strip()
    before = "\n".join(rows[:number] + [typed])
    document = before + "\n" + "\n".join(rows[number + 1:])
    return Task(kind, path, document, len(before), truth)


async def run_tasks(engine: object, settings: object, tasks: Sequence[Task],
                    on_done: Callable[[], None] = lambda: None) -> list[Outcome]:
    """Each task through a language-server completer over `engine` (one at a time, as an
    editor's requests arrive), with the result cache off so every request runs the model;
    `on_done` after each (a progress bar: a report of hundreds of requests takes minutes)."""
    from lsp.completer import Cursor, over_engine

    settings = dataclasses.replace(settings, cache_size=1, extra_tokens=0, speculate=False)
    outcomes = []
    async with over_engine(engine, settings) as completer:
        for number, task in enumerate(tasks):
            completer.cache.clear()
            cursor = Cursor(Path(task.path).as_uri() if task.path.startswith("/") else f"untitled:{task.path}",
                            task.path, task.text, task.offset, number)
            completion = await completer.complete(cursor, lambda n=number: n) or ""
            record = completer.history[-1]
            outcomes.append(Outcome(task, completion, record.latency_ms, record.shown_logprobs))
            on_done()
    return outcomes


def measure_gguf(model: Path, tasks: Sequence[Task], mode: str, *, gate: float = 0.0, new_names: float = 0.0,
                 token_healing: bool = True, on_done: Callable[[], None] = lambda: None) -> list[Outcome]:
    """The outcomes of `tasks` on the GGUF at `model` in infill `mode` (any `fim_format`,
    `auto` included) with the gates at `gate` and `new_names` (both off by default: the
    figures to choose them from) and `cove complete`'s other settings, on an engine loaded
    for it and closed afterwards."""
    from assistant.config import EngineConfig
    from assistant.engine import Engine

    settings = dataclasses.replace(Settings(), min_confidence=gate, min_confidence_new_name=new_names)
    engine = Engine.load(EngineConfig(model=model, n_ctx=settings.n_ctx, fim_format=mode, token_healing=token_healing))
    try:
        return measure(engine, settings, tasks, on_done)
    finally:
        engine.close()


def measure(engine: object, settings: object, tasks: Sequence[Task],
            on_done: Callable[[], None] = lambda: None) -> list[Outcome]:
    return asyncio.run(run_tasks(engine, settings, tasks, on_done))


@dataclass(frozen=True)
class Summary:
    """The figures of one mode on one request kind."""

    requests: int
    exact: float  #: share of requests whose first line is exactly right
    kept: float  #: share of the truth's characters that completions start with
    shown: float  #: share of requests that showed anything
    precision: float  #: share of shown completions that are exactly right
    wrong_chars: float  #: characters shown wrongly per request
    latency_ms: float  #: median


def summarize(outcomes: Sequence[Outcome], floor: float = 0.0, new_names: float = 0.0) -> Summary:
    """Figures of `outcomes`, as gates at `floor` and `new_names` would have left them."""
    gated = [o.cut(floor, new_names) for o in outcomes]
    n = max(1, len(gated))
    shown = [o for o in gated if o.shown]
    truth_chars = max(1, sum(len(o.task.truth) for o in gated))
    latencies = sorted(o.latency_ms for o in outcomes) or [0.0]
    return Summary(
        requests=len(gated),
        exact=sum(o.exact for o in gated) / n,
        kept=sum(o.kept for o in gated) / truth_chars,
        shown=len(shown) / n,
        precision=sum(o.exact for o in shown) / max(1, len(shown)),
        wrong_chars=sum(o.wrong for o in gated) / n,
        latency_ms=latencies[len(latencies) // 2],
    )


def gate_score(outcomes: Sequence[Outcome], floor: float, new_names: float = 0.0) -> int:
    """Characters kept minus characters shown wrongly, with the gates at `floor` and
    `new_names`: what the gate is chosen to maximise."""
    return sum(o.kept - o.wrong for o in (o.cut(floor, new_names) for o in outcomes))


def best_threshold(outcomes: Sequence[Outcome], grid: Sequence[float] = tuple(i / 20 for i in range(20)),
                   new_names: float = Settings.min_confidence_new_name) -> float:
    """The gate in `grid` that maximises `gate_score` beside the names' floor `new_names`
    (the setting's default: what the model's gate will work with), the lowest of equal ones."""
    return max(grid, key=lambda t: (gate_score(outcomes, t, new_names), -t))


#: Share of requests a mode must answer, ungated, to be chosen for a kind: a mode that
#: stays silent shows nothing wrong, so it would otherwise beat every mode that tries
#: (the bundled model's SPM ended every fresh line at once and won them that way).
MIN_SHOWN = 0.25


def best_mode(results: dict[str, Sequence[Outcome]], kind: str) -> str:
    """The mode with the most characters kept minus characters shown wrongly on `kind`
    requests behind its own best gate (as the editor will run it), among the modes that
    answer at least MIN_SHOWN of them ungated (all modes when none does); exact matches
    break ties."""
    of_kind = {mode: [o for o in outcomes if o.task.kind == kind] for mode, outcomes in results.items()}
    speaking = [mode for mode, outcomes in of_kind.items() if summarize(outcomes).shown >= MIN_SHOWN] or list(of_kind)

    def figure(mode: str) -> tuple[int, float]:
        outcomes = of_kind[mode]
        return gate_score(outcomes, best_threshold(outcomes)), summarize(outcomes).exact
    return max(speaking, key=figure)
