"""Models fine-tuned for a repository (`cove finetune`), found again by any path inside it.

The registry lives on the user's side, not in the repository: `repositories.json` in
Cove's data folder, keyed by the repository's absolute path, with each model copied
next to it (`finetuned/`). So a registration writes nothing into the user's project
(nothing for git to pick up), survives deleting the run folder, and two repositories
fine-tuned from the same default run folder do not overwrite each other's model.
`assistant.config.resolve_model` looks a file's or folder's repository up here with the
lowest precedence above the bundled model. Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant import locations
from assistant.atomic import atomic_path, write_atomic
from assistant.errors import CoveError, ModelError


@dataclass(frozen=True)
class Registration:
    """One repository's fine-tuned model and what its run measured."""

    repository: str
    model: str
    #: The run's before/after report (report.json), copied beside the model.
    report: str
    registered: str


def registry_file() -> Path:
    return locations.data_dir() / "repositories.json"


def _read() -> dict[str, dict]:
    path = registry_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CoveError(f"{path} is not valid JSON ({error}): delete it and run cove finetune again") from None
    return data if isinstance(data, dict) else {}


def registrations() -> list[Registration]:
    return [Registration(**entry) for entry in _read().values()]


def register(repository: Path, model: Path, report: dict) -> Registration:
    """Copy `model` into Cove's data folder and make it the model of `repository`."""
    root = repository.expanduser().resolve()
    key = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    folder = locations.data_dir() / "finetuned"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{root.name or 'root'}-{key}.gguf"
    with atomic_path(target) as temp:
        shutil.copyfile(model, temp)
    report_file = target.with_suffix(".report.json")
    write_atomic(report_file, json.dumps(report, indent=1) + "\n")
    entry = Registration(str(root), str(target), str(report_file), datetime.now(timezone.utc).isoformat(timespec="seconds"))
    entries = _read() | {str(root): asdict(entry)}
    write_atomic(registry_file(), json.dumps(entries, indent=1) + "\n")
    return entry


def registration_for(path: Path) -> Registration | None:
    """The registration of the innermost registered repository holding `path` (a file or folder)."""
    entries = _read()
    if not entries:
        return None
    here = path.expanduser().resolve()
    for folder in (here, *here.parents):
        if str(folder) in entries:
            entry = Registration(**entries[str(folder)])
            if not Path(entry.model).is_file():
                raise ModelError(f"the model fine-tuned for {folder} ({entry.model}) is missing: "
                                 f"run cove finetune {folder} again, or pass --model FILE.gguf")
            return entry
    return None
