"""`make model`: the bundled default model, built end to end by the project's own tools.

corpus (permissively licensed Python on this machine and popular permissive packages'
source distributions from the package index, with a manifest) -> `cove train`
(tokenizer, CodeGen2 mixture plus FIM) -> `cove convert` (f16 GGUF) -> `cove quantize`
(Q8_0, Q4_K_M) -> `cove verify` -> the shipped file in assistant/models/ with a record
of the config, corpus manifest, seed and library versions beside it.

The same command runs on a CPU (preset `default-cpu`, two hours or so, the standard library
and the smaller packages) and on a GPU (preset `default-gpu`, minutes, every package).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from assistant import locations
from assistant.atomic import write_atomic
from assistant.errors import CoveError
from training import sdists, shipped
from training.commands.train import settings_of
from training.corpus import STDLIB_EXCLUDED, CorpusEntry, default_corpus, manifest

#: The shipped file's size limit (the repository's budget for the bundled model).
MAX_SHIPPED_BYTES = 50 * 1000 * 1000
#: Tried in order; the first that fits the budget ships.
SHIPPED_TYPES = ("Q8_0", "Q4_K_M")
#: Megabytes of package source per preset, smallest packages first. A CPU run sees ~40M
#: tokens, so the largest packages would mostly go unseen and only slow the data
#: preparation; a GPU run repeats its data a few times at most (the field notes: up to ~4
#: epochs are nearly as good as fresh data), and its shards must travel to the GPU machine.
PACKAGE_MB = {"default-cpu": 70, "default-gpu": 700}


#: Editor requests per kind measured on the held-out files to choose the modes and the gate.
EDITOR_REQUESTS = 100


def stage_stdlib(stdlib: Path, staging: Path) -> Path:
    """A copy of the standard library's Python files without the excluded folders
    (code-page tables, the test suite, site-packages), for the repository walker."""
    target = staging / "python-stdlib"
    if target.is_dir():
        return target
    tmp = staging / ".python-stdlib.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib).as_posix()
        if any(rel == e or rel.startswith(e) for e in STDLIB_EXCLUDED):
            continue
        destination = tmp / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    os.replace(tmp, target)
    return target


def packages_within(entries: list[CorpusEntry], megabytes: float | None) -> list[CorpusEntry]:
    """The kept packages, smallest first, while their Python source fits `megabytes` (None: all)."""
    kept = [e for e in entries if e.kept]
    if megabytes is None:
        return kept
    sizes = {e.name: sum(p.stat().st_size for root in e.roots for p in Path(root).rglob("*.py") if p.is_file())
             for e in kept}
    chosen, total = [], 0
    for entry in sorted(kept, key=lambda e: (sizes[e.name], e.name)):
        if total + sizes[entry.name] > megabytes * 1e6:
            break
        chosen.append(entry)
        total += sizes[entry.name]
    return chosen


def held_out_repos() -> list[str]:
    """The repository benchmarks/line_completion.py asks on (hypothesis): its files never train."""
    import importlib.util

    spec = importlib.util.find_spec("hypothesis")
    return [str(Path(spec.origin).parent)] if spec and spec.origin else []


#: What `--stage` runs: the whole recipe, or one part of it on the machine that suits it
#: (prepare the data on a CPU, train where the GPU is, ship back on the CPU).
STAGES = ("all", "data", "train", "ship")


def build(preset: str, out: Path, packages: bool, max_steps: int | None, device: str | None, install: bool,
          from_scratch: bool = False, fetch: bool = True, stage: str = "all", minutes: float | None = None,
          settings: dict | None = None) -> Path | None:
    """Run every step (or one stage); a run folder with checkpoints is resumed, so `make model`
    can be re-run after a stop.

    A new run starts from the bundled model's full-precision weights (and its tokenizer)
    when they have the preset's shape, so CPU hours add up across runs and machines. The
    `train` stage needs only the run folder's prepared data (carry `run/data` to the GPU
    machine); `ship` needs only the trained `run/model` folder.
    """
    from training.config import load_config
    from training import checkpoint
    from training.data import build_dataset
    from training.pretrain import pretrain

    out.mkdir(parents=True, exist_ok=True)
    overrides = {"out_dir": str(out / "run"), "max_steps": max_steps, "device": device, "minutes": minutes,
                 **(settings or {})}
    prepared = out / "run" / "data" / "manifest.json"
    if stage in ("train", "ship") and prepared.is_file():
        data = json.loads(prepared.read_text())
        sources, corpus = data["sources"], json.loads((out / "corpus.json").read_text())
        overrides |= {"sources": sources, "exclude_repos": data["settings"]["exclude_repos"]}
    else:
        entries = default_corpus()
        if packages and fetch:
            entries += sdists.sdist_entries(list(sdists.POPULAR), locations.cache_dir() / "sdists")
        stdlib = stage_stdlib(Path(entries[0].roots[0]), out / "corpus")
        used = packages_within(entries[1:], PACKAGE_MB[preset]) if packages else []
        sources = [str(stdlib.resolve())] + [root for e in used for root in e.roots]
        corpus = manifest(entries) | {"packages_used": [e.name for e in used]}
        write_atomic(out / "corpus.json", json.dumps(corpus, indent=1) + "\n")
        overrides |= {"sources": sources, "exclude_repos": held_out_repos()}
    cfg = load_config(preset, overrides=overrides)
    if not from_scratch and shipped.fits(cfg):
        cfg = load_config(preset, overrides=overrides | {"init_from": str(shipped.WEIGHTS_DIR),
                                                         "tokenizer": str(shipped.WEIGHTS_DIR)})
    elif stage != "ship":
        why = "--from-scratch" if from_scratch else "the bundled weights have another shape"
        print(f"training from a random start ({why})")
    if stage == "data":
        build_dataset(cfg, cfg.out / "data")
        print(f"data ready in {cfg.out / 'data'}: `--stage train` trains on it here or on another machine")
        return None
    if stage != "ship":
        result = pretrain(cfg, resume=checkpoint.latest(cfg.out / "checkpoints") is not None)
        if result.stopped:
            raise CoveError(f"training was interrupted at step {result.step}: run `make model` again to continue")
        if stage == "train":
            return None
    steps, val_loss = trained_steps(cfg.out)
    from convert.export import export_gguf
    from convert.verify import sample_files

    model_dir = cfg.out / "model"
    samples = sample_files([Path(s) for s in sources[:1]], limit=100)
    exported = export_gguf(model_dir, {t: out / f"cove-default-{t.lower()}.gguf" for t in SHIPPED_TYPES}, samples,
                           name="cove-default", license="MIT", f16=out / "cove-default-f16.gguf")
    print("\n".join(exported.verdict))
    quantized = exported.paths
    shipped_file = next((p for p in quantized.values() if p.stat().st_size <= MAX_SHIPPED_BYTES), None)
    if shipped_file is None:
        raise CoveError(f"no quantized model fits {MAX_SHIPPED_BYTES / 1e6:.0f} MB: pick a smaller preset")
    editor = record_editor_measurements(shipped_file, cfg.out / "data")
    record = {
        "preset": preset,
        "config": cfg.to_dict(),
        "run": json.loads((cfg.out / "run.json").read_text()) if (cfg.out / "run.json").is_file() else {},
        "steps": steps,
        "val_loss": val_loss,
        "shipped": shipped_file.name,
        "verify": exported.verdict,
        "editor": editor,
        "corpus": corpus,
        "data": json.loads((cfg.out / "data" / "manifest.json").read_text()).get("counts", {}),
    }
    (out / "model.json").write_text(json.dumps(record, indent=1) + "\n")
    if install:
        install_model(shipped_file, out / "model.json", model_dir)
    return shipped_file


def trained_steps(run: Path) -> tuple[int, float | None]:
    """The finished run's last step and validation loss, from its metrics log."""
    from training.metrics import read_metrics

    train, val = read_metrics(run / "metrics.jsonl", "train"), read_metrics(run / "metrics.jsonl", "val")
    if not (run / "model").is_dir() or not train:
        raise CoveError(f"{run / 'model'} is missing: train first (`--stage train` or the whole recipe)")
    return train[-1]["step"], val[-1]["loss"] if val else None


def record_editor_measurements(model: Path, data: Path, per_kind: int = EDITOR_REQUESTS) -> dict:
    """Measure the editor's requests on the run's held-out files in every mode the model
    supports (lsp/line_eval.py) and write the best mode per kind and the confidence gate
    for them into the GGUF, which `auto` and the language server then follow."""
    from convert.metadata import write_best_modes
    from lsp import line_eval
    from training import finetune_report
    from training.evaluate import heldout_files

    tasks = line_eval.make_tasks(heldout_files(data, []), per_kind)
    figures, table, best, gate = finetune_report.measure("editor requests", model, tasks, with_auto=False,
                                                         progress=True)
    if best:
        write_best_modes(model, best, min_confidence=gate)
    return {"figures": figures, "modes": table, "best_modes": best, "min_confidence": gate}


def install_model(model: Path, record: Path, model_dir: Path) -> None:
    """Put the model (and its record) where the editor path finds it, atomically, and its
    checkpoint's weights in bf16 beside it, for the next run to continue from."""
    from transformers import AutoModelForCausalLM

    shipped.save_bf16(AutoModelForCausalLM.from_pretrained(model_dir), model_dir)
    target = locations.BUNDLED_MODEL
    target.parent.mkdir(parents=True, exist_ok=True)
    for source, destination in ((record, target.with_suffix(".json")), (model, target)):
        tmp = destination.with_name(f".{destination.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    print(f"installed {model.name} as {target} ({target.stat().st_size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.recipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default-cpu", choices=["default-cpu", "default-gpu"])
    parser.add_argument("--out", type=Path, default=Path("runs/default-model"), help="run folder (default runs/default-model)")
    parser.add_argument("--packages", action=argparse.BooleanOptionalAction, default=True,
                        help="add installed permissive packages to the standard library (default: on)")
    parser.add_argument("--fetch", action=argparse.BooleanOptionalAction, default=True,
                        help="add popular permissive packages' source distributions from the package index "
                             "(cached; offline, the cached ones) (default: on)")
    parser.add_argument("--max-steps", type=int, help="override the preset's optimizer steps")
    parser.add_argument("--minutes", type=float, help="training time budget: the wsd schedule is sized to end inside it")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one of the preset's settings, e.g. --set compile=false (repeatable)")
    parser.add_argument("--stage", choices=STAGES, default="all",
                        help="run one part: data (corpus and shards), train (on prepared data, e.g. on a GPU "
                             "machine), ship (convert, quantize, verify, measure and install a trained run)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--no-install", action="store_true", help="do not replace the bundled model")
    parser.add_argument("--from-scratch", action="store_true",
                        help="start from random weights, not from the bundled model's (assistant/models/cove-default)")
    args = parser.parse_args(argv)
    try:
        build(args.preset, args.out, args.packages, args.max_steps, args.device, not args.no_install,
              args.from_scratch, args.fetch, args.stage, args.minutes, settings_of(args.set))
    except CoveError as error:
        print(f"cove: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
