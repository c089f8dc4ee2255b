"""`cove train`: pretrain a LLaMA-architecture code model from scratch, top to bottom.

setup (processes, threads) -> data (shards, tokenizer) -> model -> loop (loop.fit:
checkpoints, metrics, signals) -> export (transformers folder for `cove convert`) ->
loss plot. Run it under torchrun for several processes: every rank runs this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from assistant.fim import END_OF_TEXT
from training.config import TrainConfig
from assistant.atomic import write_atomic
from training.data import Batches, Stream, TokenRows, build_dataset
from training.loop import FitResult, fit, save_model_folder
from training.parallel import setup_distributed
from training.metrics import plot_losses, provenance
from training.model import build_model, load_weights
from training.tokenizer import load_tokenizer


def pretrain(cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = print) -> FitResult:
    import torch

    # --- setup ---------------------------------------------------------------
    dist = setup_distributed(cfg.device)
    say = log if dist.main else (lambda _: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = cfg.out
    run.mkdir(parents=True, exist_ok=True)
    if dist.main:
        write_atomic(run / "run.json", json.dumps({"config": cfg.to_dict(), "provenance": provenance()}, indent=1) + "\n")

    # --- data: rank 0 builds the shards, the others then reuse them -------------
    data_dir = run / "data"
    if dist.main:
        build_dataset(cfg, data_dir, say)
    dist.barrier()
    manifest = build_dataset(cfg, data_dir, lambda _: None) if not dist.main else json.loads((data_dir / "manifest.json").read_text())
    tokenizer_dir = Path(manifest["tokenizer"])
    tokenizer = load_tokenizer(tokenizer_dir)
    batches = Batches([Stream(TokenRows(data_dir, manifest, "train", cfg.seq_len), cfg.global_batch)], cfg.seed)
    val_rows = TokenRows(data_dir, manifest, "val", cfg.seq_len)

    # --- model -----------------------------------------------------------------
    model = build_model(cfg, tokenizer.get_vocab_size(with_added_tokens=True), tokenizer.token_to_id(END_OF_TEXT))
    if cfg.init_from and not resume:
        load_weights(model, Path(cfg.init_from))
        say(f"starting from the weights in {cfg.init_from}")
    model.to(dist.device)
    say(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters on {dist.device} x {dist.world}")

    # --- loop --------------------------------------------------------------------
    result = fit(model, cfg, batches, val_rows, dist, resume=resume, log=say)

    # --- export ------------------------------------------------------------------
    if dist.main:
        if not result.stopped:
            save_model_folder(model, tokenizer_dir, run / "model", result.full_state)
            say(f"model saved to {run / 'model'} (convert it with `cove convert {run / 'model'}`)")
        plot_losses(run / "metrics.jsonl", run / "loss.png")
    dist.barrier()
    dist.close()
    return result
