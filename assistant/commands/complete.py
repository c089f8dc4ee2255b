"""`cove complete`: fill in code at a cursor and print it (scripts, editors without LSP, tests)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from assistant.commands.common import add_engine_arguments, load_engine
from assistant.cursor import DEFAULT_MARKER, cursor_is_mid_line, split_at_marker, split_at_position
from assistant.errors import CoveError
from assistant.stopping import StopRules


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fill in code at a cursor and print the middle. Give a FILE with --line and --col "
        f"(1-based), or pipe text containing the marker {DEFAULT_MARKER} on standard input (FILE '-')."
    )
    parser.epilog = "example: cove complete app.py --line 12 --col 5     |     echo 'def add(a, b):\\n    <|cursor|>' | cove complete -"
    parser.add_argument("file", metavar="FILE", help="source file, or - to read text with a cursor marker from stdin")
    parser.add_argument("--line", type=int, help="cursor line, 1-based")
    parser.add_argument("--col", type=int, help="cursor column, 1-based, in characters")
    parser.add_argument("--marker", default=DEFAULT_MARKER, help=f"cursor marker in stdin text (default {DEFAULT_MARKER})")
    parser.add_argument("--max-tokens", type=int, default=128, help="most tokens to generate (default 128)")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop generating after this long")
    lines = parser.add_mutually_exclusive_group()
    lines.add_argument("--single-line", action="store_true", help="stop at the end of the line")
    lines.add_argument("--multi-line", action="store_true",
                       help="allow several lines (default: single line when code follows the cursor on its line)")
    parser.add_argument("--json", action="store_true", help="print the infill with its timings as JSON")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    prefix, suffix, name = _read_input(args)
    single_line = args.single_line or (not args.multi_line and cursor_is_mid_line(suffix))
    try:
        stop = StopRules(max_tokens=args.max_tokens, time_budget_s=args.time_budget, single_line=single_line)
    except ValueError as error:
        raise CoveError(str(error)) from None
    engine = load_engine(args)
    generation = engine.infill(prefix, suffix, stop=stop, path=name)
    if args.json:
        text = generation.result()
        report = {"text": text, "model": engine.model_name, "format": engine.fim.name,
                  **dataclasses.asdict(generation.stats), "tokens_per_second": round(generation.stats.tokens_per_second, 1)}
        print(json.dumps(report, indent=2))
    else:
        for piece in generation:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0


def _read_input(args: argparse.Namespace) -> tuple[str, str, str | None]:
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
    return prefix, suffix, path.name
