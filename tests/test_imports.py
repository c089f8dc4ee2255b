"""The editor path must start fast: no torch or transformers anywhere in it."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "accelerate", "safetensors")


def imported_modules(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("import time:") and "|" in l]
    return {l.rsplit("|", 1)[1].strip() for l in lines}


@pytest.mark.parametrize("entry", [
    "from assistant.cli import main; import lsp.command, lsp.server",
    "from assistant.cli import main; import assistant.commands.chat, assistant.tui.app",
    "import assistant.engine, assistant.commands.complete, assistant.commands.doctor",
])
def test_editor_entry_points_import_no_training_stack(entry):
    modules = imported_modules(entry)
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
