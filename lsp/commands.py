"""`workspace/executeCommand` commands: the ids, and the JSON they answer with.

Editors bind these to keys or palette entries (docs/EDITORS.md shows how); the handlers
in server.py call these.
"""

from __future__ import annotations

import dataclasses
import hashlib
import statistics
from typing import Mapping

from pygls.workspace import TextDocument

from lsp.completer import Completer

#: Load the model (or reconnect the remote backend) again, e.g. after replacing the GGUF file.
RELOAD_MODEL = "cove.reloadModel"
#: What the server runs and what recent completions cost.
STATUS = "cove.status"
#: Run by the editor when the user accepts an inline completion item; its one argument is
#: the completion's id (lsp/accept_tracker.py).
ACCEPTED = "cove.accepted"


def status(completer: Completer, documents: Mapping[str, TextDocument], acceptance: dict) -> dict:
    """The backend, whether its completions are failing and its last error, the settings in
    force (less the API key), the documents as the server sees them (version and SHA-256:
    compare with the editor's when completions look off), the completions being computed now,
    the recent requests and what users
    accepted (`acceptance`: lsp/acceptance.py's figures)."""
    backend = completer.backend
    records = list(completer.history)
    served = [r.latency_ms for r in records if r.served_from in ("model", "cache")]
    return {
        "backend": backend.description if backend else None,
        "loadError": completer.load_error,
        "backendHealth": completer.health.as_json(),
        "settings": {k: v for k, v in dataclasses.asdict(completer.settings).items() if k != "api_key"},
        "documents": {uri: {"version": d.version, "sha256": hashlib.sha256(d.source.encode("utf-8", "surrogatepass")).hexdigest()}
                      for uri, d in documents.items()},
        "requests": len(records),
        "running": completer.running,
        "medianLatencyMs": statistics.median(served) if served else None,
        "records": [dataclasses.asdict(r) for r in records],
        "acceptance": acceptance,
    }


def reload_answer(error: str | None, current: dict) -> dict:
    """The answer to RELOAD_MODEL: whether it worked, and the status after it."""
    return {"loaded": error is None, "error": error, **current}
