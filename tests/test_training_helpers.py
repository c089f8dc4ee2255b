"""Shared helpers for the training tests (no tests here): tiny repositories and tokenizers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import training

#: Real source files to train test tokenizers on.
PROJECT_SOURCES = sorted(Path(training.__file__).resolve().parent.glob("*.py"))


def write_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def code_file(name: str, lines: int = 12) -> str:
    """A small, distinct Python module (distinct enough to survive near-dedup)."""
    body = "\n".join(f"    total_{name}_{i} = value * {i} + {len(name) * i} - offset_{i % 3}" for i in range(lines))
    return textwrap.dedent(f'''\
        """Module {name}: arithmetic helpers."""


        def compute_{name}(value, offset_0=0, offset_1=1, offset_2=2):
        ''') + body + f"\n    return total_{name}_0\n"


def sample_repo(root: Path, count: int = 12) -> Path:
    """A repository of `count` distinct modules plus the project's own training sources."""
    files: dict[str, str | bytes] = {f"pkg/mod_{chr(97 + i)}{i}.py": code_file(f"{chr(97 + i)}{i}") for i in range(count)}
    for source in PROJECT_SOURCES:
        files[f"real/{source.name}"] = source.read_text()
    return write_repo(root, files)
