"""`cove finetune`: LoRA-adapt a model to the user's repositories without forgetting general code.

setup -> data (the user's repositories in the base's tokenizer, plus a replay share of
general code) -> base model -> "before" report -> LoRA (peft) -> loop.fit -> "after"
report -> adapter (and, asked for, the merged model). Forgetting is the known failure of
fine-tuning code models on one repository: replay and the before/after report are the
guard and the check.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from assistant.errors import CoveError
from training.config import TrainConfig
from assistant.atomic import write_atomic
from training.data import Batches, Stream, TokenRows, build_dataset, read_val_files
from training.evaluate import LoadedModel, infill_exact_match, infill_format, infill_tasks, load_model, text_loss
from training.loop import fit, save_model_folder
from training.metrics import provenance
from training.parallel import setup_distributed

#: LoRA target presets: module-name suffixes of LLaMA-style blocks (or peft's "all-linear").
TARGETS: dict[str, list[str] | str] = {
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mlp": ["gate_proj", "up_proj", "down_proj"],
    "all-linear": "all-linear",
}

#: General code to replay when the user names none: the Python standard library.
DEFAULT_REPLAY = str(Path(sysconfig.get_paths()["stdlib"]))


@dataclass
class FinetuneConfig(TrainConfig):
    """TrainConfig plus the base model, LoRA, replay and report settings (personal-copilot defaults)."""

    #: The model to adapt: a transformers checkpoint folder or a GGUF file.
    base: str = ""
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    #: Which layers get adapters: attention, mlp or all-linear.
    lora_targets: str = "all-linear"
    #: Share of every batch drawn from general code, against forgetting (0 disables replay).
    replay_share: float = 0.2
    #: General-code repositories to replay; empty uses the Python standard library.
    replay_sources: list[str] = field(default_factory=list)
    #: Most replay files used (a deterministic sample by path hash; 0 for all).
    replay_max_files: int = 400
    #: Also save base + adapter merged into one transformers folder.
    merge: bool = False
    #: Tasks per infill metric in the before/after report (0 skips the metric).
    report_infill_tasks: int = 40
    report_humaneval_tasks: int = 40
    # Finetuning defaults that differ from pretraining.
    out_dir: str = "runs/finetune"
    lr: float = 3e-4
    min_lr: float = 3e-5
    max_steps: int = 300
    warmup_steps: int = 30
    eval_every: int = 50
    ckpt_every: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.base:
            raise CoveError("no base model: pass --base MODEL (a transformers folder or a .gguf file)")
        if self.lora_targets not in TARGETS:
            raise CoveError(f"lora_targets {self.lora_targets!r} is unknown: use one of {', '.join(TARGETS)}")
        if self.fsdp:
            raise CoveError("fsdp is for pretraining large models; LoRA finetuning keeps the base whole: set fsdp = false")
        if not 0 <= self.replay_share < 1:
            raise CoveError(f"replay_share {self.replay_share} must be in [0, 1), e.g. 0.2")


def check_gguf_base(base: Path) -> None:
    """A one-line error unless the GGUF's architecture is one Cove can train and write
    back (the converter's families): fine-tuning any other would end in a model the editor
    cannot load, after the whole run."""
    from assistant.gguf_file import gguf_architecture
    from convert.tensor_map import FAMILIES

    architecture = gguf_architecture(base)
    supported = [family.name for family in FAMILIES]
    if architecture not in supported:
        raise CoveError(f"cannot fine-tune {base.name}: its architecture is {architecture!r}, and fine-tuning "
                        f"a GGUF supports {', '.join(supported)}; pass a model of one of those")


def base_tokenizer_dir(cfg: FinetuneConfig, run: Path) -> Path:
    """A folder with the base's tokenizer.json (written from the GGUF when the base is one)."""
    base = Path(cfg.base)
    if (base / "tokenizer.json").is_file():
        return base
    if base.suffix != ".gguf" or not base.is_file():
        raise CoveError(f"base {base} is neither a transformers checkpoint folder nor a .gguf file: pass one of those")
    check_gguf_base(base)
    from transformers import AutoTokenizer

    folder = run / "tokenizer"
    AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name).save_pretrained(str(folder))
    return folder


def report(lm: LoadedModel, cfg: FinetuneConfig, val_files: list[dict]) -> dict[str, float]:
    """Held-out loss and single-line infill exact match on the user's files; HumanEval single-line infill."""
    from training.humaneval import single_line_infill

    results: dict[str, float] = {}
    if val_files:
        results["heldout_loss"], results["heldout_bits_per_byte"] = text_loss(lm, [f["text"] for f in val_files], cfg.seq_len)
    fmt = infill_format(lm.tokenizer.get_vocab(with_added_tokens=True))
    if fmt is not None and cfg.report_infill_tasks and val_files:
        tasks = infill_tasks([(f["path"], f["text"]) for f in val_files], cfg.report_infill_tasks, multiline=False, seed=cfg.seed)
        results["heldout_infill_exact_match"] = infill_exact_match(lm, fmt, tasks, single_line=True)
    if fmt is not None and cfg.report_humaneval_tasks:
        results["humaneval_single_line_infill"] = single_line_infill(lm, fmt, cfg.report_humaneval_tasks)
    return results


def format_report(before: dict[str, float], after: dict[str, float]) -> str:
    lines = [f"{'metric':<32} {'base':>10} {'adapted':>10} {'change':>10}"]
    for name in before:
        lines.append(f"{name:<32} {before[name]:>10.4f} {after[name]:>10.4f} {after[name] - before[name]:>+10.4f}")
    return "\n".join(lines)


def finetune(cfg: FinetuneConfig, resume: bool = False, log: Callable[[str], None] = print) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model

    # --- setup -----------------------------------------------------------------
    dist = setup_distributed(cfg.device)
    say = log if dist.main else (lambda _: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = cfg.out
    run.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = base_tokenizer_dir(cfg, run)
    cfg = dataclasses.replace(cfg, tokenizer=str(tokenizer_dir))
    if dist.main:
        write_atomic(run / "run.json", json.dumps({"config": cfg.to_dict(), "provenance": provenance()}, indent=1) + "\n")

    # --- data: the user's code, plus general code to replay ---------------------
    user = build_dataset(cfg, run / "data", say)
    replay_rows = round(cfg.global_batch * cfg.replay_share)
    streams = [Stream(TokenRows(run / "data", user, "train", cfg.seq_len), cfg.global_batch - replay_rows)]
    if replay_rows:
        replay_cfg = dataclasses.replace(cfg, sources=cfg.replay_sources or [DEFAULT_REPLAY], val_fraction=0.0,
                                         max_files=cfg.replay_max_files)
        replay = build_dataset(replay_cfg, run / "replay", say)
        streams.append(Stream(TokenRows(run / "replay", replay, "train", cfg.seq_len), replay_rows))
    batches = Batches(streams, cfg.seed)
    val_rows = TokenRows(run / "data", user, "val", cfg.seq_len)
    val_files = read_val_files(run / "data")

    # --- base model and its report ------------------------------------------------
    lm = load_model(Path(cfg.base), device=str(dist.device.type))
    before_file = run / "report_before.json"
    if dist.main and not (resume and before_file.is_file()):
        write_atomic(before_file, json.dumps(report(lm, cfg, val_files), indent=1) + "\n")
    before = json.loads(before_file.read_text()) if dist.main else {}

    # --- LoRA ----------------------------------------------------------------------
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=TARGETS[cfg.lora_targets], task_type="CAUSAL_LM")
    torch.manual_seed(cfg.seed)
    model = get_peft_model(lm.model, lora)
    model.train()
    say(f"LoRA: {sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters, "
        f"{replay_rows}/{cfg.global_batch} rows per batch replayed")
    result = fit(model, cfg, batches, val_rows, dist, resume=resume, log=say)

    # --- after: report, adapter, merged model --------------------------------------------
    outcome: dict = {"step": result.step, "interrupted": result.interrupted}
    if dist.main and not result.interrupted:
        model.eval()
        after = report(LoadedModel(model, lm.tokenizer, lm.device), cfg, val_files)
        tmp = run / ".adapter.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        shutil.rmtree(run / "adapter", ignore_errors=True)
        tmp.rename(run / "adapter")
        if cfg.merge:
            save_model_folder(model.merge_and_unload(), tokenizer_dir, run / "merged")
        if before:
            say(format_report(before, after))
        write_atomic(run / "report.json", json.dumps({"before": before, "after": after}, indent=1) + "\n")
        outcome.update(before=before, after=after)
    dist.barrier()
    dist.close()
    return outcome
