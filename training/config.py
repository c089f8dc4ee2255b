"""Training settings: one dataclass, defaults in one place, presets that hold only overrides.

`TrainConfig` is saved inside every checkpoint and data manifest, so a run can always be
read back with the exact settings that produced it. Precedence, highest first:
command-line flags, the `--config` TOML file, the `--preset` TOML file, the defaults here.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import CoveError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class TrainConfig:
    """Everything one training run depends on (data, objective, model, optimizer, system)."""

    # --- data ---------------------------------------------------------------
    #: Repository folders (or git URLs, cloned into the run folder) to learn from.
    sources: list[str] = field(default_factory=list)
    #: Run folder: data shards, tokenizer, checkpoints, metrics, plots.
    out_dir: str = "runs/cove"
    #: Languages to keep (names from training.sources.LANGUAGES); empty keeps all known ones.
    languages: list[str] = field(default_factory=list)
    #: Languages to drop even when `languages` is empty.
    exclude_languages: list[str] = field(default_factory=list)
    #: Files larger than this are skipped (generated data, dumps).
    max_file_bytes: int = 256_000
    #: Quality filters from personal-copilot: longest line, mean line, alphanumeric share.
    max_line_length: int = 1000
    max_mean_line_length: float = 100.0
    min_alnum_share: float = 0.25
    #: MinHash Jaccard similarity above which a file counts as a near-duplicate.
    near_dup_threshold: float = 0.85
    #: Most files kept from all sources, a deterministic sample by path hash (0: all).
    max_files: int = 0
    #: Share of files (chosen by path hash) held out for validation and infill evaluation.
    val_fraction: float = 0.05
    #: Repositories that evaluations ask on (e.g. the line-completion benchmark's): a file
    #: equal to one of theirs never trains. HumanEval's problems are always kept out.
    exclude_repos: list[str] = field(default_factory=list)
    #: tokenizer folder to use; empty trains a byte-level BPE on the training split.
    tokenizer: str = ""
    #: Vocabulary size when training a tokenizer.
    vocab_size: int = 16384

    # --- objective (CodeGen2: 50% causal, 50% infill) -----------------------
    #: Shares of the objective mixture, per file: causal LM, CodeGen2 span corruption,
    #: FIM prefix-suffix-middle, FIM suffix-prefix-middle. Normalised; must not all be 0.
    mixture: dict[str, float] = field(
        default_factory=lambda: {"causal": 0.5, "span": 0.25, "psm": 0.125, "spm": 0.125}
    )
    #: Most spans corrupted in one file by span corruption (each `<mask_k>`).
    max_spans: int = 3
    #: Share of FIM examples whose middle is whole lines (from a line's start to a line's
    #: end, its newline left in the suffix): the shape of an editor's request on a fresh
    #: line and of HumanEval's single-line infill. The rest are cut at any character.
    fim_line_share: float = 0.5

    # --- model (LLaMA architecture) -----------------------------------------
    dim: int = 256
    n_layers: int = 6
    n_heads: int = 8
    #: Key/value heads (grouped-query attention when below n_heads).
    n_kv_heads: int = 8
    ffn_dim: int = 688
    #: Tokens per training row (and the model's context length).
    seq_len: int = 512
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    #: A transformers folder whose weights start the run instead of a random initialisation
    #: (continued training, e.g. from the bundled model's assistant/models/cove-default);
    #: its shape must match the settings above, and `tokenizer` should name the same folder.
    init_from: str = ""

    # --- optimizer and schedule ---------------------------------------------
    #: "adamw" for every weight, or "muon": Muon (orthogonalized momentum) for the hidden
    #: 2-D weights and AdamW for the embedding, the output head, norms and biases.
    optimizer: str = "adamw"
    #: Muon's learning rate for the hidden matrices (its published default); `lr` stays AdamW's.
    muon_lr: float = 0.02
    #: Muon's Nesterov momentum.
    muon_momentum: float = 0.95
    #: "cosine" (warmup, cosine decay to min_lr) or "wsd" (warmup, constant, then a linear
    #: decay to min_lr over the last `decay_share` of the steps; a wsd run can be extended).
    schedule: str = "cosine"
    #: Share of max_steps the wsd schedule spends decaying.
    decay_share: float = 0.2
    #: Wall-clock budget of the training loop in minutes (0: none). With wsd the run's
    #: length is re-sized from the measured pace during the stable phase, so that the decay
    #: ends inside the budget on hardware whose speed is not known in advance; any schedule
    #: stops (and checkpoints) when the budget runs out.
    minutes: float = 0.0
    #: Rows per optimizer step across all processes; split into micro-batches.
    global_batch: int = 16
    #: Rows per forward pass on one process; global_batch / (micro_batch * processes)
    #: is the number of gradient-accumulation steps.
    micro_batch: int = 8
    max_steps: int = 2000
    lr: float = 1e-3
    #: Floor of the cosine decay.
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    #: Gradient-norm clipping; 0 disables it.
    grad_clip: float = 1.0

    # --- system -------------------------------------------------------------
    #: "auto" picks cuda when available, else cpu.
    device: str = "auto"
    #: torch.compile the model (GPU runs; slow to start on CPU).
    compile: bool = False
    #: Under torchrun, shard parameters, gradients and optimizer state per layer (FSDP2)
    #: instead of replicating the model (DDP): for models that do not fit one device.
    fsdp: bool = False
    #: Recompute activations in the backward pass to save memory.
    gradient_checkpointing: bool = False
    seed: int = 1337
    #: CPU threads for torch; 0 leaves torch's default.
    threads: int = 0

    # --- bookkeeping --------------------------------------------------------
    log_every: int = 10
    eval_every: int = 200
    #: Validation rows per evaluation (0: the whole validation split).
    eval_rows: int = 64
    ckpt_every: int = 200
    #: Checkpoints kept on disk (the newest ones).
    keep_last: int = 2
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads",
                     "ffn_dim", "seq_len", "global_batch", "micro_batch", "max_steps",
                     "log_every", "eval_every", "ckpt_every", "keep_last"):
            if getattr(self, name) < 1:
                raise CoveError(f"{name} = {getattr(self, name)} must be at least 1")
        if self.max_files < 0:
            raise CoveError(f"max_files = {self.max_files} must be 0 (all files) or more")
        if not 0 <= self.val_fraction < 1:
            raise CoveError(f"val_fraction = {self.val_fraction} must be in [0, 1), e.g. 0.05")
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise CoveError(
                f"dim {self.dim}, n_heads {self.n_heads}, n_kv_heads {self.n_kv_heads}: "
                "dim must divide by n_heads and n_heads by n_kv_heads"
            )
        if self.global_batch % self.micro_batch:
            raise CoveError(
                f"global_batch {self.global_batch} must be a multiple of micro_batch {self.micro_batch}"
            )
        if self.warmup_steps < 0 or self.warmup_steps >= self.max_steps:
            raise CoveError(f"warmup_steps {self.warmup_steps} must be in [0, max_steps={self.max_steps})")
        if self.optimizer not in ("adamw", "muon"):
            raise CoveError(f"optimizer = {self.optimizer!r} is unknown: use \"adamw\" or \"muon\"")
        if self.optimizer == "muon" and self.fsdp:
            raise CoveError("optimizer = \"muon\" does not support fsdp (it orthogonalizes whole matrices): use adamw")
        if self.schedule not in ("cosine", "wsd"):
            raise CoveError(f"schedule = {self.schedule!r} is unknown: use \"cosine\" or \"wsd\"")
        if self.minutes < 0:
            raise CoveError(f"minutes = {self.minutes} must be at least 0 (0: no limit)")
        if not 0 < self.decay_share <= 1:
            raise CoveError(f"decay_share = {self.decay_share} must be in (0, 1], e.g. 0.2")
        if not 0 <= self.fim_line_share <= 1:
            raise CoveError(f"fim_line_share = {self.fim_line_share} must be in [0, 1], e.g. 0.5")
        if not 0 < self.min_lr <= self.lr:
            raise CoveError(f"min_lr {self.min_lr} must be in (0, lr={self.lr}]")
        from training.objectives import Objective  # stdlib-only; avoids a cycle at import

        known = {o.value for o in Objective}
        unknown = set(self.mixture) - known
        if unknown or any(v < 0 for v in self.mixture.values()) or not sum(self.mixture.values()) > 0:
            raise CoveError(
                f"mixture {self.mixture} is invalid: use non-negative shares of {', '.join(sorted(known))} "
                "with a positive sum, e.g. {causal = 0.5, span = 0.25, psm = 0.125, spm = 0.125}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def out(self) -> Path:
        return Path(self.out_dir)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CoveError(f"config file {path} does not exist: check the path") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CoveError(f"config file {path} is not valid TOML ({error}): fix it") from None


def load_config(
    preset: str | None = None, file: Path | None = None, overrides: dict[str, Any] | None = None,
    base: type = TrainConfig,
) -> Any:
    """Defaults <- preset <- file <- overrides (None values in overrides are ignored)."""
    values: dict[str, Any] = {}
    if preset:
        if preset not in preset_names():
            raise CoveError(f"unknown preset {preset!r}: choose one of {', '.join(preset_names())}")
        values.update(_read_toml(PRESETS_DIR / f"{preset}.toml"))
    if file is not None:
        values.update(_read_toml(file))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CoveError(f"unknown setting(s) {', '.join(unknown)}: known settings are {', '.join(sorted(known))}")
    return base(**values)
