"""`cove models`: the models on this machine, a catalogue of good ones, and pull/rm from the Hub."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant import advice, catalogue, hub, locations, machine_speed, registry
from assistant.commands.common import print_table
from assistant.config import load_engine_config
from assistant.errors import CoveError

EXAMPLE = "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q8_0"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "List local GGUF models (bundled, configured, and the Hugging Face cache), show a catalogue "
        f"of known-good code models, and download or remove models by name (e.g. {EXAMPLE}). "
        "A pulled model works anywhere as --model hf:REPO:TAG."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="local models: path, size, architecture, FIM format, chat template")
    listing.add_argument("--catalogue", action="store_true",
                         help="known-good code models to pull instead, each timed for this machine (its speed is "
                              "measured once, a few seconds) and the one that suits it")
    pull = actions.add_parser("pull", help="download a GGUF from the Hugging Face Hub into its cache")
    pull.add_argument("spec", metavar="REPO[:TAG|/FILE]", help=f"e.g. {EXAMPLE}")
    rm = actions.add_parser("rm", help="remove a pulled model (one file with :TAG, else the whole repository)")
    rm.add_argument("spec", metavar="REPO[:TAG|/FILE]")


def run(args: argparse.Namespace) -> int:
    if args.action == "pull":
        spec = hub.parse_spec(args.spec)
        path = hub.pull(spec)
        print(f"{path} ({path.stat().st_size / 1e6:,.1f} MB, SHA-256 checked)")
        print(f"use it with: --model hf:{spec}")
    elif args.action == "rm":
        paths, freed = hub.remove(hub.parse_spec(args.spec))
        for path in paths:
            print(f"removed {path}")
        print(f"freed {freed / 1e6:,.1f} MB")
    elif args.catalogue:
        _print_catalogue()
    else:
        print_table(["model", "path", "size", "architecture", "FIM format", "chat"], _local_rows())
        for entry in registry.registrations():
            print(_report_line(entry))
    return 0


def _print_catalogue() -> None:
    """The catalogue with each model's completion time on this machine, then the advice."""
    speed = machine_speed.machine_speed(load_engine_config()[0].n_threads)
    header = ["model", "pull with", "size", "RAM", f"{catalogue.TYPICAL_TOKENS} tokens here", "FIM format", "chat", "note"]
    print_table(header, _catalogue_rows(speed))
    print(f"\n{catalogue.TYPICAL_TOKENS} tokens here: a typical completion after a keystroke ({catalogue.PROMPT_TOKENS} new "
          f"prompt tokens, {catalogue.TYPICAL_TOKENS} generated) at {_per_gb(speed)}, measured on this machine "
          f"{speed.measured}; over the {catalogue.LATENCY_BUDGET_MS} ms budget is marked slow")
    for line in advice.advice_lines(speed):
        print(line)


def _per_gb(speed: machine_speed.MachineSpeed) -> str:
    """`52 ms (Q8_0) / 61 ms (K-quants) per token per GB`."""
    return " / ".join(f"{ms:.0f} ms ({'K-quants' if quant == 'Q4_K' else quant})"
                      for quant, ms in speed.ms_per_gb.items()) + " per token per GB"


def _catalogue_rows(speed: machine_speed.MachineSpeed) -> list[list[str]]:
    rows = []
    for entry in catalogue.CATALOGUE:
        ms = catalogue.completion_ms(entry, speed)
        rows.append([entry.name, entry.spec, ("~" if entry.size_approximate else "") + _size(entry.size_bytes),
                     "~" + _size(entry.ram_bytes), f"~{ms:,.0f} ms" + (" slow" if ms > catalogue.LATENCY_BUDGET_MS else ""),
                     entry.fim_format, _yes(entry.chat_template), entry.note])
    return rows


def _local_rows() -> list[list[str]]:
    rows = [_describe("bundled", locations.BUNDLED_MODEL)] if locations.BUNDLED_MODEL.is_file() else []
    rows += _configured_rows()
    rows += [_describe(f"fine-tuned for {entry.repository}", Path(entry.model)) for entry in registry.registrations()]
    return rows + [_describe(f"hf:{spec}", file.file_path) for spec, file in hub.cached_ggufs()]


def _report_line(entry: registry.Registration) -> str:
    """What `cove finetune` measured for a registered model, before -> after."""
    import json

    try:
        report = json.loads(Path(entry.report).read_text())
        before, after = report["before"], report["after"]
    except (OSError, ValueError, KeyError):
        return f"{entry.repository}: no readable report at {entry.report}"
    figures = [f"{label} {before[key]:.1%} -> {after[key]:.1%}" for key, label in (
        ("exact_mid-line", "rest-of-line exact mid-line"), ("exact_fresh-line", "fresh line"),
        ("kept_mid-line", "characters kept mid-line")) if key in before and key in after]
    if "general_bits_per_byte" in before and "general_bits_per_byte" in after:
        figures.append(f"general code bits per byte {before['general_bits_per_byte']:.3f} -> "
                       f"{after['general_bits_per_byte']:.3f}")
    return f"fine-tuned for {entry.repository} ({entry.registered}): {', '.join(figures)} (report: {entry.report})"


def _configured_rows() -> list[list[str]]:
    """The model COVE_MODEL or the config file names, if any (a Hub spec is looked up in the cache only)."""
    config, sources = load_engine_config()
    if config.model is None:
        return []
    label = f"configured ({sources.get('model', 'config file')})"
    if not hub.is_spec(config.model):
        return [_describe(label, config.model)]
    spec = hub.parse_spec(str(config.model))
    path = hub.cached_file(spec)
    if path is None:
        return [[f"{label}: hf:{spec}", f"not downloaded: cove models pull {spec}", "-", "-", "-", "-"]]
    return [_describe(f"{label}: hf:{spec}", path)]


def _describe(label: str, path: Path) -> list[str]:
    from assistant.gguf_file import gguf_summary

    try:
        summary = gguf_summary(path)
    except CoveError as error:
        return [label, str(path), "-", str(error), "-", "-"]
    return [label, str(path), _size(summary.size_bytes), summary.architecture, summary.mode, _yes(summary.chat_template)]


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


