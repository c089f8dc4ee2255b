"""What a run reports: tokens/s, MFU, JSONL records, TensorBoard scalars, a loss plot."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

#: Dense bf16 peak FLOP/s per GPU, by a substring of torch.cuda.get_device_name().
PEAK_BF16_FLOPS: dict[str, float] = {
    "H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
    "A10": 125e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12,
}


def provenance() -> dict[str, str]:
    """Library versions and the code's git commit, saved with every run so results can be traced."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "peft", "tokenizers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    here = Path(__file__).resolve().parent
    result = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True)
    found["git"] = result.stdout.strip() if result.returncode == 0 else "unknown"
    return found


def flops_per_token(compute_params: int, n_layers: int, n_heads: int, head_dim: int, seq_len: int) -> float:
    """Training FLOPs per token (PaLM appendix B, as nanoGPT): 6N + 12·L·H·Q·T."""
    return 6 * compute_params + 12 * n_layers * n_heads * head_dim * seq_len


def peak_flops(device_name: str) -> float | None:
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in device_name), None)


class MetricsLog:
    """Appends one JSON object per record to `metrics.jsonl`, mirrored to TensorBoard when on."""

    def __init__(self, path: Path, tensorboard: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a")
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(path.parent / "tensorboard"))

    def write(self, kind: str, step: int, **values: float) -> None:
        self.file.write(json.dumps({"kind": kind, "step": step, "time": round(time.time(), 3), **values}) + "\n")
        self.file.flush()
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{kind}/{name}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def read_metrics(path: Path, kind: str) -> list[dict[str, Any]]:
    """Records of one kind by step; a step logged twice (replayed after a resume) keeps its last record."""
    by_step: dict[int, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["kind"] == kind:
                by_step[record["step"]] = record
    return [by_step[s] for s in sorted(by_step)]


def plot_losses(metrics: Path, out: Path) -> Path:
    """PNG of training and validation loss against step (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for kind, style in (("train", "-"), ("val", "o-")):
        records = read_metrics(metrics, kind)
        if records:
            axes.plot([r["step"] for r in records], [r["loss"] for r in records], style, label=f"{kind} loss")
    axes.set_xlabel("step")
    axes.set_ylabel("cross-entropy (nats/token)")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    tmp.replace(out)
    return out
