"""The editor path must start fast: no torch or transformers anywhere in it; and the layers
only import downwards: assistant/ never imports lsp/."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "peft", "accelerate", "safetensors")


def imported_modules(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("import time:") and "|" in l]
    return {l.rsplit("|", 1)[1].strip() for l in lines}


@pytest.mark.parametrize("entry", [
    "from assistant.cli import main; import lsp.command, lsp.server",
    "from assistant.cli import main; import assistant.commands.chat, assistant.tui.app",
    "import assistant.engine, lsp.cli.complete, lsp.cli.doctor, lsp.cli.stats",
])
def test_editor_entry_points_import_no_training_stack(entry):
    modules = imported_modules(entry)
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_assistant_never_imports_lsp():
    upward = {str(path.relative_to(ROOT)): sorted(name for name in imported_names(path) if name.split(".")[0] == "lsp")
              for path in sorted((ROOT / "assistant").rglob("*.py"))}
    assert {path: names for path, names in upward.items() if names} == {}


def module_graph() -> dict[str, set[str]]:
    """assistant/ and lsp/ modules -> the ones of them each imports (anywhere in the file,
    type-checking imports included: a circle there still ties the two modules together)."""
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
               for package in ("assistant", "lsp") for path in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = imported_names(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # `from lsp import context`
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {other for other in imported if other in modules and other != name}
    return graph


def test_no_two_modules_import_each_other_in_a_circle():
    graph = module_graph()
    assert "assistant.formats" in graph["assistant.engine"]  # the graph sees the imports
    circles = []
    for start in graph:  # depth-first from each module: a path back to it is a circle
        stack, seen = [(start, (start,))], set()
        while stack:
            name, path = stack.pop()
            for other in graph[name]:
                if other == start:
                    circles.append(" -> ".join((*path, start)))
                elif other not in seen:
                    seen.add(other)
                    stack.append((other, (*path, other)))
    assert circles == []
