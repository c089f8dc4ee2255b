"""The before/after report of `cove finetune`: what the editor does, and what was forgotten.

Editor figures come from the editor's own path: cursors in the repository's held-out
files (split by path, never trained on) sent through the language server's completer on
the GGUF llama.cpp runs (lsp/line_eval.py), rest-of-line exact match and characters kept
per request kind, in every infill mode the model supports. Measured ungated (every
completion counts, as benchmarks/line_completion.py reports), so figures compare with
docs/BENCHMARKS.md. "editor" is `auto`: for the base, what the editor does today; for
the adapted model, the best mode per kind, which is written into its GGUF so that `auto`
then follows it. Forgetting is checked on general code: bits per byte of held-out
standard-library files (the replay set's validation split, never trained on).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

from assistant.progress import Progress
from lsp import line_eval

#: The mode name that measures what the editor does without being told a mode.
AUTO = "auto"


def line_tasks(files: Sequence[dict], per_kind: int, seed: int) -> list[line_eval.Task]:
    return line_eval.make_tasks([(f["path"], f["text"]) for f in files], per_kind, seed) if per_kind else []


def measure_modes(gguf: Path, tasks: Sequence[line_eval.Task], modes: Sequence[str] | None,
                  on_done: Callable[[], None]) -> dict[str, list[line_eval.Outcome]]:
    """Outcomes of `tasks` per infill mode of the GGUF at `gguf` (all it supports when
    `modes` is None), each through the language server's completer, ungated."""
    return {mode: line_eval.measure_gguf(gguf, tasks, mode, on_done=on_done)
            for mode in modes or line_eval.gguf_modes(gguf)}


def mode_table(results: dict[str, list[line_eval.Outcome]]) -> dict[str, dict[str, dict[str, float]]]:
    """mode -> request kind -> exact and kept shares (JSON-ready)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for mode, outcomes in results.items():
        for kind in line_eval.KINDS:
            summary = line_eval.summarize([o for o in outcomes if o.task.kind == kind])
            table.setdefault(mode, {})[kind] = {"exact": summary.exact, "kept": summary.kept}
    return table


def editor_figures(table: dict[str, dict[str, dict[str, float]]], modes: dict[str, str]) -> dict[str, float]:
    """The flat figures of the mode used per kind (`modes`: kind -> mode)."""
    return {f"{figure}_{kind}": table[modes[kind]][kind][figure]
            for kind in line_eval.KINDS for figure in ("exact", "kept")}


def best_modes(results: dict[str, list[line_eval.Outcome]]) -> dict[str, str]:
    candidates = {mode: outcomes for mode, outcomes in results.items() if mode != AUTO}
    return {kind: line_eval.best_mode(candidates, kind) for kind in line_eval.KINDS}


def general_figures(lm, user_val: Sequence[dict], general_val: Sequence[dict], seq_len: int,
                    humaneval_tasks: int) -> dict[str, float]:
    """Held-out loss and bits per byte on the user's files and on general code (transformers
    forward passes); HumanEval single-line infill when asked for."""
    from training.evaluate import infill_format, text_loss

    figures: dict[str, float] = {}
    if user_val:
        figures["heldout_loss"], figures["heldout_bits_per_byte"] = text_loss(lm, [f["text"] for f in user_val], seq_len)
    if general_val:
        _, figures["general_bits_per_byte"] = text_loss(lm, [f["text"] for f in general_val], seq_len)
    fmt = infill_format(lm.tokenizer.get_vocab(with_added_tokens=True))
    if fmt is not None and humaneval_tasks:
        from training.humaneval import single_line_infill

        figures["humaneval_single_line_infill"] = single_line_infill(lm, fmt, humaneval_tasks)
    return figures


def best_gate(results: dict[str, list[line_eval.Outcome]], best: dict[str, str]) -> float:
    """The confidence gate for the requests answered in their best modes (what the GGUF
    will carry beside those modes)."""
    return line_eval.best_threshold([o for kind, mode in best.items() for o in results[mode] if o.task.kind == kind])


def measure(label: str, gguf: Path, tasks: Sequence[line_eval.Task], *, with_auto: bool,
            progress: bool) -> tuple[dict[str, float], dict, dict[str, str], float | None]:
    """(editor figures, per-mode table, best mode per kind, the gate for them) of the GGUF
    at `gguf`, with a progress bar: `with_auto` adds the editor's `auto` as measured (the
    base); otherwise the editor's figures are those of the best modes (the adapted model,
    whose GGUF will say so)."""
    if not tasks:
        return {}, {}, {}, None
    modes = line_eval.gguf_modes(gguf)
    if with_auto:
        modes = [AUTO, *modes]
    note = f"{len(tasks)} editor requests in {len(modes)} modes"
    with Progress(f"{label}:", len(modes) * len(tasks), line_interval_s=30.0, enabled=progress) as bar:
        bar.update(0, note=note)
        results = measure_modes(gguf, tasks, modes, lambda: bar.update(note=note))
    table = mode_table(results)
    best = best_modes(results)
    used = {kind: AUTO for kind in line_eval.KINDS} if with_auto else best
    return editor_figures(table, used), table, best, best_gate(results, best)


#: Rows of the printed table: figure key -> label.
LABELS = {
    "exact_mid-line": "rest-of-line exact, mid-line",
    "kept_mid-line": "characters kept, mid-line",
    "exact_fresh-line": "rest-of-line exact, fresh line",
    "kept_fresh-line": "characters kept, fresh line",
    "heldout_loss": "held-out loss (nats/token)",
    "heldout_bits_per_byte": "held-out bits per byte",
    "general_bits_per_byte": "general code bits per byte",
    "humaneval_single_line_infill": "HumanEval single-line infill",
}


def format_report(before: dict[str, float], after: dict[str, float]) -> str:
    """A table of every figure both reports have: base, adapted, change."""
    lines = [f"{'':<32} {'base':>10} {'adapted':>10} {'change':>10}"]
    for key, label in LABELS.items():
        if key not in before or key not in after:
            continue
        old, new = before[key], after[key]
        if key.startswith(("exact", "kept")) or key.startswith("humaneval"):
            change = f"x{new / old:.2f}" if old > 0 else ("=" if new == old else "new")
            lines.append(f"{label:<32} {old:>10.1%} {new:>10.1%} {change:>10}")
        else:
            change = f"{(new - old) / old:+.1%}" if old and not math.isnan(old) else "-"
            lines.append(f"{label:<32} {old:>10.4f} {new:>10.4f} {change:>10}")
    return "\n".join(lines)
