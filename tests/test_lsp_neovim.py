"""A real editor: headless Neovim attaches `cove lsp`, gets completions and accepts one (skipped where
Neovim is not installed; `apt-get install neovim` gives 0.7, which is enough)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("lsp_neovim_check.lua")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is not installed")]


def test_neovim_attaches_receives_completions_and_accepts_one(tiny_gguf: Path, tmp_path: Path):
    env = {**os.environ, "COVE_TEST_PYTHON": sys.executable, "COVE_TEST_REPO": str(Path(__file__).parent.parent),
           "COVE_TEST_MODEL": str(tiny_gguf), "COVE_TEST_FOLDER": str(tmp_path)}
    result = subprocess.run(["nvim", "--headless", "-u", "NONE", "-c", f"luafile {SCRIPT}"],
                            capture_output=True, text=True, timeout=120, env=env)
    lines = result.stdout.splitlines()
    assert lines[0] == "attached cove", result.stdout + result.stderr
    answer = json.loads(lines[1])
    line = answer["line"]
    assert answer["edit"]["range"]["start"] == {"line": line, "character": len("value_0 = ")}
    assert answer["edit"]["newText"].startswith(f"compute_{line}")
    assert answer["inline"]["range"]["start"] == {"line": line, "character": 19}
    accepted = json.loads(lines[2])
    assert accepted["shown"] == 1 and accepted["accepted"] == 1
    assert accepted["acceptedChars"] == len(answer["inline"]["insertText"])
