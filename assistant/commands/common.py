"""Arguments every model-using command shares, the engine they describe, and table output."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.config import load_engine_config


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", "-m", type=Path, metavar="FILE.gguf",
                       help="GGUF model to use (default: COVE_MODEL, the config file, then the bundled model)")
    group.add_argument("--n-ctx", type=int, metavar="TOKENS", help="context window in tokens (default 4096)")
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads for llama.cpp (default: all cores)")
    group.add_argument("--gpu-layers", type=int, metavar="N", help="layers to offload to a GPU (default 0)")
    group.add_argument("--fim-format", metavar="FORMAT",
                       help="infill format: auto, codegen2, psm:FAMILY, spm:FAMILY, or a template with {prefix} and {suffix}")
    group.add_argument("--lora", type=Path, metavar="ADAPTER.gguf", help="GGUF LoRA adapter to apply")


def engine_config_from_args(args: argparse.Namespace, workspace: Path | None = None):
    """The engine settings with the command line laid over environment and config file;
    `workspace` (default: the current folder) picks a repository's fine-tuned model."""
    return load_engine_config(
        model=args.model, n_ctx=args.n_ctx, n_threads=args.threads,
        n_gpu_layers=args.gpu_layers, fim_format=args.fim_format, lora=args.lora, workspace=workspace,
    )


def load_engine(args: argparse.Namespace, workspace: Path | None = None):
    """Load the model the arguments describe (ModelError with a one-line reason otherwise)."""
    from assistant.engine import Engine

    config, sources = engine_config_from_args(args, workspace)
    return Engine.load(config, sources)


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Rows under a header, in columns as wide as their widest cell."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
