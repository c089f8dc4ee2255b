"""`cove doctor`: assistant's installation and model checks (assistant/commands/doctor.py),
plus what the language server will do with the model: its confidence gate."""

from __future__ import annotations

import argparse

from assistant.commands import doctor

configure = doctor.configure


def run(args: argparse.Namespace) -> int:
    return doctor.run(args, model_lines=lambda engine: [("confidence gate", gate(engine.measured_gate))])


def gate(measured: float | None) -> str:
    """The editor's confidence gate for this model, and where it comes from."""
    from lsp.settings import DEFAULT_MIN_CONFIDENCE, Settings

    source = "measured for this model" if measured is not None else "the default: the model records none"
    return (f"{measured if measured is not None else DEFAULT_MIN_CONFIDENCE:g} ({source}): completions end "
            "before the first token the model gives a lower probability (setting minConfidence), and before "
            f"a name the file never mentions unless it gave it {Settings.min_confidence_new_name:g} "
            "(minConfidenceNewName)")
