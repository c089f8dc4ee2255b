"""`cove stats`: what the editor's completions were worth, from the local acceptance file.

The language server records each inline completion it shows and how much of it was
accepted (lsp/acceptance.py); this reads the file and prints the figures per model and
infill mode. It never creates the file (an older one is brought to the current schema).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

from assistant.commands.common import print_table
from assistant.errors import CoveError
from lsp.acceptance import DEFAULT_DAYS, AcceptanceStore, default_path, summarize

HEADER = ["model", "mode", "shown", "accepted", "partly", "rate", "chars/hour", "p50 ms", "p95 ms"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Acceptance rate, accepted characters per hour of active time (clock minutes in which a "
        "completion was shown) and latency percentiles of the editor's inline completions, per model "
        "and infill mode. Recorded on this machine only by `cove lsp` (setting recordAcceptance)."
    )
    parser.add_argument("--days", type=float, default=DEFAULT_DAYS, metavar="N",
                        help=f"the last N days (default {DEFAULT_DAYS})")
    parser.add_argument("--db", type=Path, metavar="FILE",
                        help=f"the acceptance file (default {default_path()}; the lsp setting acceptanceFile)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    path = (args.db or default_path()).expanduser()
    if args.days <= 0:
        raise CoveError(f"--days {args.days:g} must be more than 0")
    summary = _read(path, args.days) if path.is_file() else summarize([], args.days)
    if args.json:
        print(json.dumps({"file": str(path), **summary}, indent=2))
    elif not summary["total"]["shown"]:
        print(f"No completions recorded in the last {args.days:g} days in {path}.")
        print("`cove lsp` records them unless the setting recordAcceptance is false.")
    else:
        print(f"Inline completions of the last {args.days:g} days ({path}):\n")
        rows = [_row(g["model"], g["mode"], g) for g in summary["groups"]] + [_row("all", "", summary["total"])]
        print_table(HEADER, rows)
        print("\nrate: accepted in full or in part, of those shown; chars/hour: accepted characters per hour of "
              "active time (clock minutes in which a completion was shown)")
    return 0


def _read(path: Path, days: float) -> dict:
    try:
        store = AcceptanceStore(path)
    except sqlite3.DatabaseError as error:
        raise CoveError(f"acceptance file {path} cannot be read ({error}): move it aside") from None
    try:
        return store.summary(days)
    finally:
        store.close()


def _row(model: str, mode: str, figures: dict) -> list[str]:
    rate, per_hour = figures["acceptanceRate"], figures["acceptedCharsPerHour"]
    return [model or "-", mode or "-", str(figures["shown"]), str(figures["accepted"]), str(figures["partiallyAccepted"]),
            "-" if rate is None else f"{100 * rate:.1f}%", "-" if per_hour is None else f"{per_hour:,.0f}",
            _ms(figures["latencyP50Ms"]), _ms(figures["latencyP95Ms"])]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
