"""How training spreads over processes: one process, DDP replicas or FSDP2 shards.

torchrun sets RANK/WORLD_SIZE; every process then runs the same recipe. DDP keeps a full
model per process and averages gradients; FSDP (`fsdp = true`) shards parameters,
gradients and optimizer state per decoder layer, for models that do not fit one device.
`Parallel` hides the difference from the loop: gradient-sync switching, and the full
(unsharded) state that checkpoints and exports hold, whatever the layout.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from assistant.errors import CoveError


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 when run directly)."""

    rank: int
    world: int
    device: "torch.device"

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world

    def any(self, flag: bool) -> bool:
        return self.mean(float(flag)) > 0

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def setup_distributed(device: str) -> Distributed:
    """Join the torchrun process group when RANK is set (gloo on CPU, nccl on GPU)."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise CoveError("device cuda: torch sees no CUDA GPU here: use --device cpu (or auto)")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if int(os.environ.get("RANK", -1)) == -1:
        return Distributed(0, 1, torch.device("cuda" if use_cuda else "cpu"))
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))


class Parallel:
    """The model as the loop trains it (`module`) and the full-state view checkpoints need."""

    def __init__(self, model, dist: Distributed, fsdp: bool) -> None:
        self.raw, self.dist, self.fsdp = model, dist, fsdp and dist.world > 1
        self.module = model
        if self.fsdp:
            from torch.distributed.fsdp import fully_shard

            layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
            if not layers:
                raise CoveError(f"fsdp: found no decoder layers to shard in {type(model).__name__}; set fsdp = false")
            for layer in layers:
                fully_shard(layer)
            fully_shard(model)
        elif dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [dist.device.index] if dist.device.type == "cuda" else None
            self.module = DistributedDataParallel(model, device_ids=device_ids)

    def gradient_sync(self, sync: bool):
        """Context for one micro-step: gradients are reduced across processes only when `sync`."""
        if self.fsdp:
            self.raw.set_requires_gradient_sync(sync)
            return contextlib.nullcontext()
        if sync or self.dist.world == 1:
            return contextlib.nullcontext()
        return self.module.no_sync()

    def _options(self):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)

    def model_state(self) -> dict[str, Any]:
        """Trainable parameters, unsharded, on the CPU (under FSDP every rank must call; rank 0 gets them)."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import get_model_state_dict

            return get_model_state_dict(self.raw, options=self._options())
        return {name: p.detach().cpu() for name, p in self.raw.named_parameters() if p.requires_grad}

    def full_model_state(self) -> dict[str, Any] | None:
        """Every weight, unsharded, for export; None when the model is not sharded (use it as it is)."""
        if not self.fsdp:
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(self.raw, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def optimizer_state(self, optimizer) -> dict[str, Any]:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

            return get_optimizer_state_dict(self.raw, optimizer, options=self._options())
        return optimizer.state_dict()

    def load_optimizer_state(self, optimizer, state: dict[str, Any]) -> None:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.raw, optimizer, state, options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(state)

    def grad_norm(self, max_norm: float) -> float:
        """Clip the gradients to `max_norm` (0: no clipping) and return their norm before clipping."""
        import torch

        if max_norm <= 0:
            return 0.0
        norm = torch.nn.utils.clip_grad_norm_(self.raw.parameters(), max_norm)
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
