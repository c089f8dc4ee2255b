"""The converter's commands: --help stays fast (no training stack) and explains the choices."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "safetensors", "tokenizers")


@pytest.mark.parametrize("command", ["convert", "quantize", "verify"])
def test_help_imports_no_training_stack(command: str) -> None:
    code = f"import sys; from assistant.cli import main; sys.argv = ['cove', '{command}', '--help']; main()"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert {m for m in modules if m.split(".")[0] in HEAVY} == set()
    assert f"usage: cove {command}" in result.stdout


def test_convert_help_lists_direct_and_llama_cpp_types(capsys) -> None:
    from assistant.cli import main

    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "f32, f16, bf16, q8_0" in text and "q4_k_m" in text
