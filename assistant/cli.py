"""`cove`: one command with a subcommand per job.

Subcommand modules are imported only when their command runs (or its --help is asked
for), so `cove lsp` never pays for the training stack. Each module provides
`configure(parser)` to declare its arguments and `run(args) -> int`. The table names
modules of the layers above assistant/ (lsp/, training/, convert/) without importing
them, so assistant/ itself never depends on those layers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from assistant import __version__
from assistant.errors import CoveError

#: name -> (module, one-line help). The order is the order `cove --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("assistant.commands.chat", "chat with the model in the terminal (the default job of `make run`)"),
    "complete": ("lsp.cli.complete", "fill in code at a cursor position in a file and print it"),
    "lsp": ("lsp.command", "run the language server that gives editors inline completions"),
    "stats": ("lsp.cli.stats", "acceptance rate, accepted characters per hour and latency of editor completions"),
    "doctor": ("lsp.cli.doctor", "check the installation and the model, with a one-shot infill self-test"),
    "bench": ("assistant.commands.bench", "measure prompt and generation speed of a model on this machine"),
    "models": ("assistant.commands.models", "list local models, show a catalogue of code models, pull or remove one"),
    "train": ("training.commands.train", "pretrain a small code model from scratch on repositories"),
    "finetune": ("training.commands.finetune", "fine-tune a model on your repository (small ones in full, large ones with LoRA)"),
    "eval": ("training.commands.evaluate", "evaluate a model: loss, bits per byte, infill exact match, HumanEval"),
    "convert": ("convert.commands.convert", "convert a transformers checkpoint or LoRA adapter to GGUF"),
    "quantize": ("convert.commands.quantize", "quantize a GGUF model with llama.cpp (Q8_0, Q4_K_M, ...)"),
    "verify": ("convert.commands.verify", "compare a GGUF with its transformers source: tokens and logits"),
}

DESCRIPTION = """\
Cove: a local, private code assistant. Everything runs on this machine: no code leaves it.

Start with `cove doctor` to see which model is used, `cove chat` to talk to it and
`cove lsp` to give your editor completions."""


def _load(name: str) -> ModuleType:
    module_name, _ = COMMANDS[name]
    return importlib.import_module(module_name)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the `selected` subcommand's module is imported to declare its arguments."""
    parser = argparse.ArgumentParser(prog="cove", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cove {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name == selected:
            module = _load(name)
            module.configure(command_parser)
            command_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CoveError as error:
        print(f"cove: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cove: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
