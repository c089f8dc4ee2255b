"""`cove complete`: one editor completion at a cursor, printed (scripts, editors without LSP, tests).

It is the language server's request, not a look-alike: the same windows around the cursor,
the same stop rules and post-processing (lsp/completer.py, lsp/postprocess.py), so what
this prints is what an editor would show at that position; an empty line means the editor
would show nothing there.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from assistant.commands.common import add_engine_arguments, load_engine
from assistant.cursor import DEFAULT_MARKER, split_at_marker, split_at_position
from assistant.errors import CoveError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the completion an editor would show at a cursor. Give a FILE with --line and --col "
        f"(1-based), or pipe text containing the marker {DEFAULT_MARKER} on standard input (FILE '-')."
    )
    parser.epilog = "example: cove complete app.py --line 12 --col 5     |     echo 'def add(a, b):\\n    <|cursor|>' | cove complete -"
    parser.add_argument("file", metavar="FILE", help="source file, or - to read text with a cursor marker from stdin")
    parser.add_argument("--line", type=int, help="cursor line, 1-based")
    parser.add_argument("--col", type=int, help="cursor column, 1-based, in characters")
    parser.add_argument("--marker", default=DEFAULT_MARKER, help=f"cursor marker in stdin text (default {DEFAULT_MARKER})")
    parser.add_argument("--max-tokens", type=int, help="most tokens to generate (default: the editor's, 48)")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help="generation time limit after the first token (default: the editor's)")
    lines = parser.add_mutually_exclusive_group()
    lines.add_argument("--single-line", action="store_true", help="stop at the end of the line")
    lines.add_argument("--multi-line", action="store_true",
                       help="allow several lines on an empty or finished line (the default, as in editors)")
    parser.add_argument("--min-confidence", type=float, metavar="P",
                        help="end the completion before the first token the model gave less than this "
                             "probability, 0 to 1 (default: the editor's; 0 shows all)")
    parser.add_argument("--min-confidence-new-name", type=float, metavar="P",
                        help="end it before a name the file never mentions unless the model gave every "
                             "token of it this probability, 0 to 1 (default: the editor's, 0.9; 0 turns it off)")
    parser.add_argument("--json", action="store_true", help="print the completion with its timings as JSON")
    add_engine_arguments(parser)


def settings_from_args(args: argparse.Namespace):
    """The language server's settings, with what the command line says laid over them."""
    from lsp.settings import Settings

    # No other open files to borrow from, and no next completion to prepare: the command ends.
    changes: dict[str, object] = {"extra_tokens": 0, "speculate": False}
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    if args.time_budget is not None:
        changes["time_budget_ms"] = max(1, round(1000 * args.time_budget))
    if args.single_line:
        changes["multiline"] = False
    if args.n_ctx is not None:
        changes["n_ctx"] = args.n_ctx
    if args.min_confidence is not None:
        changes["min_confidence"] = args.min_confidence
    if args.min_confidence_new_name is not None:
        changes["min_confidence_new_name"] = args.min_confidence_new_name
    return dataclasses.replace(Settings(), **changes)


def run(args: argparse.Namespace) -> int:
    prefix, suffix, path = _read_input(args)
    settings = settings_from_args(args)
    engine = load_engine(args, workspace=path)  # a file in a fine-tuned repository gets its model
    completion, record = asyncio.run(_complete(engine, settings, prefix, suffix, path))
    if args.json:
        figures = {name: value for name, value in dataclasses.asdict(record).items() if name != "shown_logprobs"}
        report = {"text": completion, "model": engine.model_name, "format": record.mode or engine.fim.name,
                  **figures, "mean_logprob": record.mean_logprob, "min_logprob": record.min_logprob}
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(completion + "\n")
    return 0


async def _complete(engine, settings, prefix: str, suffix: str, path: Path | None):
    """The completion through the language server's completer, and its record."""
    from lsp.completer import Cursor, over_engine

    async with over_engine(engine, settings) as completer:
        uri, name = (path.resolve().as_uri(), path.name) if path else ("untitled:stdin", "stdin")
        completion = await completer.complete(Cursor(uri, name, prefix + suffix, len(prefix), 0), lambda: 0)
        return completion or "", completer.history[-1]


def _read_input(args: argparse.Namespace) -> tuple[str, str, Path | None]:
    if args.file == "-":
        if args.line is not None or args.col is not None:
            raise CoveError("--line/--col go with a FILE; with stdin, mark the cursor with the marker instead")
        prefix, suffix = split_at_marker(sys.stdin.read(), args.marker)
        return prefix, suffix, None
    if args.line is None or args.col is None:
        raise CoveError(f"give the cursor position: cove complete {args.file} --line L --col C")
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CoveError(f"file not found: {path}") from None
    except UnicodeDecodeError:
        raise CoveError(f"{path} is not UTF-8 text: completions work on source files") from None
    except OSError as error:
        raise CoveError(f"cannot read {path}: {error.strerror}") from None
    prefix, suffix = split_at_position(text, args.line, args.col, str(path))
    return prefix, suffix, path
