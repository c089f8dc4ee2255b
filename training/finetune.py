"""`cove finetune`: adapt a model to the user's repository, ending in a model the editor uses.

setup -> base (a GGUF is dequantized into a float transformers folder in the run folder,
so training, merging and conversion all start from one) -> data (the repository in the
base's tokenizer, plus a replay share of general code) -> "before" report -> full
fine-tuning (small models) or LoRA (large ones) -> loop.fit, its length sized to the
repository and capped by a time budget -> "after" report -> GGUF (converted, verified,
quantized, best infill mode per request kind written in) -> registered for the
repository (assistant/registry.py). Forgetting is the known failure of fine-tuning code
models on one repository: replay and the before/after report are the guard and the check.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from assistant.atomic import write_atomic
from assistant.errors import CoveError
from training import finetune_report as reports
from training.config import TrainConfig
from training.data import Batches, Stream, TokenRows, build_dataset, read_val_files
from training.evaluate import LoadedModel, load_model
from convert import TOKENIZER_FILES
from training.loop import fit, save_model_folder, to_device, token_loss
from training.metrics import provenance
from training.parallel import setup_distributed

#: LoRA target presets: module-name suffixes of LLaMA-style blocks (or peft's "all-linear").
TARGETS: dict[str, list[str] | str] = {
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mlp": ["gate_proj", "up_proj", "down_proj", "c_fc", "c_proj"],  # c_*: StarCoder2
    "all-linear": "all-linear",
}
METHODS = ("auto", "full", "lora")

#: General code to replay when the user names none: the Python standard library.
DEFAULT_REPLAY = str(Path(sysconfig.get_paths()["stdlib"]))
#: Share of the replay files held out (by path) to measure forgetting on. training/data.py
#: samples max_files by the same path hash that splits, so the sample is the files of lowest
#: hash and holds more than this share: 400 of the ~1,800 standard-library files keep ~40.
REPLAY_VAL_FRACTION = 0.02
#: Share of the time budget the schedule is sized to: the rest absorbs a slower step.
BUDGET_MARGIN = 0.9


@dataclass
class FinetuneConfig(TrainConfig):
    """TrainConfig plus the base model, method, length, replay and report settings."""

    #: The model to adapt: a transformers checkpoint folder or a GGUF file.
    base: str = ""
    #: full (every weight), lora (adapters), or auto: full below full_max_params, else LoRA.
    method: str = "auto"
    #: Largest model auto fine-tunes in full: below it full training is ~4x faster per
    #: token than LoRA on a CPU (no adapter matmuls) and its optimizer state fits easily.
    full_max_params: int = 100_000_000
    #: LoRA settings (personal-copilot's).
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    #: Which layers get adapters: attention, mlp or all-linear.
    lora_targets: str = "all-linear"
    #: LoRA: the training loss's softmax covers only the tokens that occur in the training
    #: data (training/vocab_subset.py); the frozen output layer then costs a fraction.
    subset_loss: bool = True
    #: Share of every batch drawn from general code, against forgetting (0 disables replay).
    replay_share: float = 0.2
    #: General-code repositories to replay; empty uses the Python standard library.
    replay_sources: list[str] = field(default_factory=list)
    #: Most replay files used (a deterministic sample by path hash; 0 for all).
    replay_max_files: int = 400
    #: LoRA: also keep base + adapter merged as a transformers folder (merged/). The GGUF
    #: is written either way.
    merge: bool = False
    #: Passes over the repository's training files when max_steps is 0 (the default):
    #: repeating data up to ~4 times is nearly as good as fresh data (field notes).
    epochs: float = 4.0
    #: Wall-clock budget of training, in minutes (0: none): the schedule is sized to fit
    #: it from a measured step time, and training stops when it runs out.
    minutes: float = 15.0
    #: Editor requests per kind (mid-line, fresh line) in the before/after report (0 skips).
    report_line_tasks: int = 100
    #: HumanEval single-line infill tasks in the report (0 skips: ~1 s a task on a CPU,
    #: and small models score 0 there before and after).
    report_humaneval_tasks: int = 0
    #: llama.cpp quantization of the finished GGUF.
    quant: str = "Q8_0"
    #: Make the finished GGUF the model of the repositories trained on (local folders).
    register: bool = True
    # Finetuning defaults that differ from pretraining.
    out_dir: str = "runs/finetune"
    lr: float = 3e-4
    min_lr: float = 3e-5
    #: 0: sized to the repository (epochs), capped by minutes.
    max_steps: int = 0
    #: At most a tenth of a sized run.
    warmup_steps: int = 30
    eval_every: int = 50
    ckpt_every: int = 50

    def __post_init__(self) -> None:
        if self.max_steps == 0 or self.warmup_steps >= self.max_steps:
            # Sized once the repository is read, warmup cut to a tenth (`sized`): check the rest now.
            dataclasses.replace(self, max_steps=self.warmup_steps + 1)
            return
        super().__post_init__()
        if not self.base:
            raise CoveError("no base model: pass --base MODEL (a transformers folder or a .gguf file)")
        if self.method not in METHODS:
            raise CoveError(f"method {self.method!r} is unknown: use one of {', '.join(METHODS)}")
        if self.lora_targets not in TARGETS:
            raise CoveError(f"lora_targets {self.lora_targets!r} is unknown: use one of {', '.join(TARGETS)}")
        if self.fsdp:
            raise CoveError("fsdp is for pretraining large models; finetuning keeps the model whole: set fsdp = false")
        if not 0 <= self.replay_share < 1:
            raise CoveError(f"replay_share {self.replay_share} must be in [0, 1), e.g. 0.2")
        if self.epochs <= 0 or self.minutes < 0:
            raise CoveError(f"epochs {self.epochs} must be above 0 and minutes {self.minutes} at least 0 (0: no limit)")


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


def base_folder(base: Path, run: Path, reuse: bool) -> Path:
    """The base as a float transformers folder with its tokenizer: the base itself, or a
    GGUF dequantized into run/base (a model loaded from a GGUF stays marked quantized in
    transformers and cannot be saved or merged, so its weights move into a plain one)."""
    if (base / "config.json").is_file() and any((base / name).is_file() for name in TOKENIZER_FILES):
        return base
    if base.suffix != ".gguf" or not base.is_file():
        raise CoveError(f"base {base} is neither a transformers checkpoint folder nor a .gguf file: pass one of those")
    check_gguf_base(base)
    out = run / "base"
    if reuse and (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from convert.hparams import gemma3_query_scalar
    from convert.tokenizer import save_gguf_vocab

    loaded = AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(loaded).__name__]
    if config.model_type == "gemma3_text":  # transformers' GGUF loader leaves its own default (256)
        config.query_pre_attn_scalar = gemma3_query_scalar(config.to_dict())
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    tmp = run / ".base.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name).save_pretrained(str(tmp))
    save_gguf_vocab(base, tmp)  # the converted result gets the base's vocabulary back, key for key
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def mixture_for_base(cfg: FinetuneConfig, say: Callable[[str], None]) -> FinetuneConfig:
    """`cfg` with only the objectives the base's vocabulary can express: a model without
    FIM or CodeGen2 tokens (Gemma 3) is fine-tuned causally, as the editor then runs it."""
    from training.objectives import supported_shares
    from training.tokenizer import load_tokenizer

    shares = supported_shares(cfg.mixture, load_tokenizer(Path(cfg.tokenizer)).get_vocab(with_added_tokens=True))
    if not shares:
        raise CoveError(f"the base's vocabulary has none of the tokens the mixture {cfg.mixture} needs "
                        "(an end-of-document token at least): pass another --base")
    if shares != cfg.mixture:
        say(f"objectives the base's vocabulary supports: {', '.join(shares)} (of {', '.join(cfg.mixture)})")
    return dataclasses.replace(cfg, mixture=shares)


@dataclass
class TrainingData:
    """A fine-tuning run's rows: the repository's stream and the replay's, mixed per step."""

    batches: Batches
    user_stream: Stream
    streams: list[Stream]
    val_rows: TokenRows
    user_val: list[dict]
    general_val: list[dict]
    replay_rows: int


def training_data(cfg: FinetuneConfig, run: Path, say: Callable[[str], None]) -> TrainingData:
    """The repository (and the general code to replay) tokenized into `run`/data and /replay."""
    user = build_dataset(cfg, run / "data", say)
    replay_rows = round(cfg.global_batch * cfg.replay_share)
    user_stream = Stream(TokenRows(run / "data", user, "train", cfg.seq_len), cfg.global_batch - replay_rows)
    streams = [user_stream]
    general_val: list[dict] = []
    if replay_rows:
        replay_cfg = dataclasses.replace(cfg, sources=cfg.replay_sources or [DEFAULT_REPLAY],
                                         val_fraction=REPLAY_VAL_FRACTION, max_files=cfg.replay_max_files)
        replay = build_dataset(replay_cfg, run / "replay", say)
        streams.append(Stream(TokenRows(run / "replay", replay, "train", cfg.seq_len), replay_rows))
        general_val = read_val_files(run / "replay")
    return TrainingData(Batches(streams, cfg.seed), user_stream, streams, TokenRows(run / "data", user, "val", cfg.seq_len),
                        read_val_files(run / "data"), general_val, replay_rows)


def training_loss(lm: LoadedModel, method: str, data: TrainingData, cfg: FinetuneConfig,
                  say: Callable[[str], None]) -> Callable:
    """The loss to train with: over the training data's tokens under LoRA (subset_loss)."""
    if method != "lora" or not cfg.subset_loss:
        return token_loss
    from training.vocab_subset import SubsetLoss, seen_ids

    vocab = lm.model.get_output_embeddings().weight.shape[0]
    ids = seen_ids([stream.rows for stream in data.streams], vocab)
    say(f"loss over the {len(ids):,} of {vocab:,} tokens that occur in the training data")
    return SubsetLoss(ids, vocab)


def seconds_per_step(model, batches: Batches, cfg: FinetuneConfig, device, loss=token_loss) -> float:
    """One optimizer step's forward and backward passes, timed after a first untimed one
    (allocation); the gradients are dropped."""
    accum = cfg.global_batch // cfg.micro_batch

    def passes() -> None:
        for micro in range(accum):
            loss(model, to_device(batches.micro_batch(0, micro, cfg.micro_batch), device), batches.pad_id).backward()

    passes()
    began = time.perf_counter()
    passes()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - began


def sized(cfg: FinetuneConfig, user_rows: int, user_rows_per_step: int, step_s: float | None) -> FinetuneConfig:
    """The schedule: `epochs` over the user's rows unless max_steps is given, cut to what
    fits the time budget at `step_s` seconds a step."""
    steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * user_rows / max(1, user_rows_per_step)))
    if cfg.minutes and step_s:
        steps = max(1, min(steps, int(cfg.minutes * 60 * BUDGET_MARGIN / step_s)))
    return dataclasses.replace(cfg, max_steps=steps, warmup_steps=min(cfg.warmup_steps, steps // 10))


def trainable(model, cfg: FinetuneConfig, say: Callable[[str], None]):
    """The model to train: itself (full) or wrapped with LoRA adapters."""
    import torch

    size = sum(p.numel() for p in model.parameters())
    method = cfg.method if cfg.method != "auto" else ("full" if size < cfg.full_max_params else "lora")
    torch.manual_seed(cfg.seed)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                                 target_modules=TARGETS[cfg.lora_targets], task_type="CAUSAL_LM"))
    model.train()
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    say(f"{method} fine-tuning of a {size / 1e6:.1f}M-parameter model: {count:,} trainable parameters")
    return model, method


def finetune(cfg: FinetuneConfig, resume: bool = False, log: Callable[[str], None] = print) -> dict:
    import torch

    # --- setup and base ----------------------------------------------------------------
    started = time.perf_counter()
    dist = setup_distributed(cfg.device)
    say = log if dist.main else (lambda _: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = cfg.out
    run.mkdir(parents=True, exist_ok=True)
    say(f"base: {cfg.base}")
    base = base_folder(Path(cfg.base), run, reuse=resume)
    cfg = mixture_for_base(dataclasses.replace(cfg, tokenizer=str(base)), say)

    # --- data: the user's code, plus general code to replay ------------------------------
    say("reading the repository and the general code to replay")
    data = training_data(cfg, run, say)
    batches, user_stream, val_rows = data.batches, data.user_stream, data.val_rows
    user_val, general_val, replay_rows = data.user_val, data.general_val, data.replay_rows
    tasks = reports.line_tasks(user_val, cfg.report_line_tasks, cfg.seed)
    samples = {f["path"]: f["text"] for f in (user_val + general_val)[:8]}

    # --- the base and its report --------------------------------------------------------
    lm = load_model(base, device=str(dist.device.type))
    before_file = run / "report_before.json"
    if dist.main and not (resume and before_file.is_file()):
        base_gguf = Path(cfg.base) if Path(cfg.base).suffix == ".gguf" else None
        if base_gguf is None:
            say("converting the base to GGUF to measure it as the editor runs it")
            from convert.export import export_gguf

            base_gguf = export_gguf(base, {cfg.quant: run / "base.gguf"}, samples).paths[cfg.quant]
        say("before: held-out loss and general code")
        figures = reports.general_figures(lm, user_val, general_val, cfg.seq_len, cfg.report_humaneval_tasks)
        editor, table, _, _ = reports.measure("before", base_gguf, tasks, with_auto=True, progress=cfg.progress)
        write_atomic(before_file, json.dumps({"figures": editor | figures, "modes": table}, indent=1) + "\n")
    before = json.loads(before_file.read_text()) if dist.main else {}

    # --- training ------------------------------------------------------------------------
    model, method = trainable(lm.model, cfg, say)
    loss = training_loss(lm, method, data, cfg, say)
    schedule_file = run / "schedule.json"
    if resume and schedule_file.is_file():
        cfg = dataclasses.replace(cfg, **json.loads(schedule_file.read_text()))
    else:
        step_s = seconds_per_step(model, batches, cfg, dist.device, loss) if cfg.minutes else None
        cfg = sized(cfg, len(user_stream.rows), user_stream.per_batch, step_s)
        write_atomic(schedule_file, json.dumps({"max_steps": cfg.max_steps, "warmup_steps": cfg.warmup_steps}) + "\n")
    if dist.main:
        write_atomic(run / "run.json", json.dumps({"config": cfg.to_dict(), "provenance": provenance()}, indent=1) + "\n")
    say(f"training {cfg.max_steps} steps ({replay_rows}/{cfg.global_batch} rows of each replayed)"
        + (f", at most {cfg.minutes:g} minutes" if cfg.minutes else ""))
    deadline = time.monotonic() + cfg.minutes * 60 if cfg.minutes else math.inf
    result = fit(model, cfg, batches, val_rows, dist, resume=resume, log=say,
                 should_stop=lambda: time.monotonic() >= deadline, loss=loss)
    out_of_time = result.interrupted and time.monotonic() >= deadline
    outcome: dict = {"step": result.step, "interrupted": result.interrupted and not out_of_time}
    if dist.main and not outcome["interrupted"]:
        if out_of_time:
            say(f"time budget of {cfg.minutes:g} minutes used up at step {result.step} of {cfg.max_steps}")
        outcome.update(finish(cfg, run, model, method, lm, base, before, user_val, general_val, tasks, samples, say))
        outcome["training"] = {"method": method, "steps": result.step, "max_steps": cfg.max_steps,
                               "stopped_by_time_budget": out_of_time}
        outcome["seconds"] = round(time.perf_counter() - started)
        write_atomic(run / "report.json", json.dumps({k: outcome[k] for k in (
            "before", "after", "modes", "best_modes", "min_confidence", "training", "model", "registered",
            "seconds")}, indent=1) + "\n")
    dist.barrier()
    dist.close()
    return outcome


def finish(cfg: FinetuneConfig, run: Path, model, method: str, lm: LoadedModel, base: Path, before: dict,
           user_val: list[dict], general_val: list[dict], tasks: list, samples: dict[str, str],
           say: Callable[[str], None]) -> dict:
    """After training: the general figures, the final transformers folder, its GGUF with the
    best infill modes written in, the editor figures on it, and the registration."""
    from convert.export import export_gguf
    from convert.metadata import write_best_modes

    model.eval()
    say("after: held-out loss and general code")
    figures = reports.general_figures(LoadedModel(model, lm.tokenizer, lm.device), user_val, general_val,
                                      cfg.seq_len, cfg.report_humaneval_tasks)
    if method == "lora":
        _save_adapter(model, run / "adapter")
        folder = save_model_folder(model.merge_and_unload(), base, run / "merged")
    else:
        folder = save_model_folder(model, base, run / "model")
    repositories = [Path(s).expanduser() for s in cfg.sources if Path(s).expanduser().is_dir()]
    name = f"{Path(cfg.base).stem}+{repositories[0].resolve().name}" if repositories else None
    say("converting, verifying and quantizing the adapted model")
    gguf = export_gguf(folder, {cfg.quant: run / f"model-{cfg.quant.lower()}.gguf"}, samples, name=name).paths[cfg.quant]
    if method == "lora" and not cfg.merge:
        shutil.rmtree(folder)
    editor, table, best, gate = reports.measure("after", gguf, tasks, with_auto=False, progress=cfg.progress)
    if best:
        write_best_modes(gguf, best, min_confidence=gate)
    after = editor | figures
    say(reports.format_report(before["figures"], after))
    report = {"before": before["figures"], "after": after, "modes": {"before": before["modes"], "after": table},
              "best_modes": best, "min_confidence": gate, "model": str(gguf)}
    registered = []
    if cfg.register:
        from assistant.registry import register

        for repository in repositories:
            entry = register(repository, gguf, report)
            registered.append(entry.repository)
            say(f"registered {entry.model} for {entry.repository}: `cove lsp`, `cove complete` and `cove chat` "
                "use it there unless --model, COVE_MODEL or the config file name another")
    return report | {"registered": registered}


def _save_adapter(model, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
