"""The editor's requests on code the model never saw, through the language server's path.

Cursors in the middle of lines being typed and on fresh lines (lsp/line_eval.py), in
held-out files: a repository outside the training corpus (`--repo`, repeatable) or a
training run's validation files (`--data RUN/data`). Every infill mode the model supports
is measured (PSM, SPM, CodeGen2, left to right) and `auto`, each through the completer the
LSP uses, with `cove complete`'s settings, ungated. Then the confidence gate (a completion
ends before the first token the model gave less than that probability) and the floor for
names the document never mentions (lsp/grounding.py): chosen on every other `auto` request
to maximise characters kept minus characters shown wrongly, then measured with the gates
in force on the other half, against the same half ungated.

    .venv/bin/python benchmarks/line_completion.py --repo .venv/lib/python3.11/site-packages/hypothesis \
        [--model FILE.gguf] [--per-kind 150] [--modes auto ...] [--no-token-healing] [--seed 0] [--gates P ...]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import locations  # noqa: E402
from lsp import line_eval  # noqa: E402
from lsp.settings import Settings  # noqa: E402


def gate_pair(text: str) -> tuple[float, float]:
    """`P` or `P/N` from the command line: a token floor and a names' floor."""
    floor, _, names = text.partition("/")
    return float(floor), float(names) if names else Settings.min_confidence_new_name


def held_out_files(repos: list[Path], data: Path | None) -> list[tuple[str, str]]:
    from training.evaluate import heldout_files

    return heldout_files(data, [str(repo) for repo in repos])


def measure_mode(model: Path, tasks: list[line_eval.Task], mode: str, gate: float = 0.0, new_names: float = 0.0,
                 token_healing: bool = True) -> list[line_eval.Outcome]:
    """The outcome of every task in `mode` with the gates at `gate` and `new_names`, and a
    line saying so."""
    outcomes = line_eval.measure_gguf(model, tasks, mode, gate=gate, new_names=new_names, token_healing=token_healing)
    print(f"measured {mode} (gate {gate:g}, new names {new_names:g})", file=sys.stderr)
    return outcomes


HEADER = ("| mode | kind | exact | chars kept | shown | exact among shown | wrong chars/request | p50 ms |\n"
          "|---|---|---|---|---|---|---|---|")


def row(label: str, kind: str, s: line_eval.Summary) -> str:
    return (f"| {label} | {kind} | {s.exact:.1%} | {s.kept:.1%} | {s.shown:.1%} | {s.precision:.1%} | "
            f"{s.wrong_chars:.1f} | {s.latency_ms:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=locations.BUNDLED_MODEL)
    parser.add_argument("--repo", type=Path, action="append", default=[], help="held-out repository (repeatable)")
    parser.add_argument("--data", type=Path, help="a training run's data folder: its validation files")
    parser.add_argument("--per-kind", type=int, default=150)
    parser.add_argument("--modes", nargs="*", help="modes to measure (default: every one the model supports)")
    parser.add_argument("--no-token-healing", action="store_true", help="ask mid-word cursors as typed (the before)")
    parser.add_argument("--seed", type=int, default=0, help="which requests (default 0, the ones in BENCHMARKS.md)")
    parser.add_argument("--gates", type=gate_pair, nargs="+", metavar="P[/N]",
                        help="measure `auto` with these token floors P (and names' floors N, default "
                             f"{Settings.min_confidence_new_name:g}) on every request, instead of choosing one on "
                             "half of them: shipped gates on new requests")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    args = parser.parse_args()
    files = held_out_files(args.repo, args.data)
    tasks = line_eval.make_tasks(files, args.per_kind, args.seed)
    healing = not args.no_token_healing
    results = {mode: measure_mode(args.model, tasks, mode, token_healing=healing)
               for mode in args.modes or line_eval.gguf_modes(args.model) + ["auto"]}
    print(f"{args.model.name}: {len(files)} held-out files, {args.per_kind} requests per kind, "
          f"token healing {'on' if healing else 'off'}, ungated\n")
    print(HEADER)
    for mode, outcomes in results.items():
        for kind in line_eval.KINDS:
            print(row(mode, kind, line_eval.summarize([o for o in outcomes if o.task.kind == kind])))
    single = {mode: outcomes for mode, outcomes in results.items() if mode != "auto"}
    for kind in line_eval.KINDS if single else ():
        print(f"\nbest mode for {kind}: {line_eval.best_mode(single, kind)}")
    if "auto" in results and args.gates:
        measured = {f"token floor {gate:g}, new names {names:g}": measure_mode(args.model, tasks, "auto", gate, names,
                                                                               healing)
                    for gate, names in args.gates}
        print_gated(f"`auto` on all {len(tasks)} requests, measured with the gates in force:",
                    {"ungated": results["auto"], **measured})
    elif "auto" in results:
        report_gate(args.model, tasks, results["auto"], healing)
    if args.json:
        args.json.write_text(json.dumps({mode: [dict(kind=o.task.kind, path=o.task.path, truth=o.task.truth,
                                                     completion=o.completion, tokens=o.tokens)
                                                for o in outcomes] for mode, outcomes in results.items()}, indent=1))


#: Floors for names the document never mentions that the tune half is searched over.
NAME_FLOORS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def report_gate(model: Path, tasks: list[line_eval.Task], outcomes: list[line_eval.Outcome], healing: bool) -> None:
    """The gates chosen on every other `auto` request (ungated figures, each completion cut
    where the gates would end it), then measured for real on the other half: the token
    floor alone, and with the floor for made-up names (lsp/grounding.py) at its default."""
    tune, report = outcomes[0::2], outcomes[1::2]
    print(f"\ntune half ({len(tune)} requests), characters kept minus shown wrongly, best token floor per "
          "floor for new names:\n\n| new names | token floor | kept - wrong | chars kept |\n|---|---|---|---|")
    for names in NAME_FLOORS:
        floor = line_eval.best_threshold(tune, new_names=names)
        kept = sum(o.cut(floor, names).kept for o in tune)
        print(f"| {names:g} | {floor:.2f} | {line_eval.gate_score(tune, floor, names)} | {kept} |")
    names = Settings.min_confidence_new_name
    alone, floor = line_eval.best_threshold(tune, new_names=0.0), line_eval.best_threshold(tune, new_names=names)
    measured = {"ungated": report,
                f"token floor {alone:.2f} alone": measure_mode(model, tasks[1::2], "auto", alone, 0.0, healing),
                f"token floor {floor:.2f}, new names {names:g}": measure_mode(model, tasks[1::2], "auto", floor, names,
                                                                              healing)}
    print(f"\nover all {len(outcomes)} requests the best token floor beside new names {names:g} is "
          f"{line_eval.best_threshold(outcomes):.2f} (what `cove finetune` and the recipe would record)")
    print_gated(f"reported on the other {len(report)}, measured with the gates in force:", measured)


def print_gated(title: str, measured: dict[str, list[line_eval.Outcome]]) -> None:
    print(f"\n{title}\n")
    print(HEADER)
    for label, figures in measured.items():
        for kind in line_eval.KINDS:
            print(row(label, kind, line_eval.summarize([o for o in figures if o.task.kind == kind])))


if __name__ == "__main__":
    main()
