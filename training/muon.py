"""Muon for the hidden matrices, AdamW for everything else, as one torch optimizer.

Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers") takes SGD's Nesterov
momentum of a weight matrix's gradient and replaces it with the nearest semi-orthogonal
matrix (all singular values ~1), found by a few Newton-Schulz iterations. Every direction
of the update then moves by about the same amount, instead of the few dominant ones that
plain momentum follows; in the nanoGPT speedrun that gave 1.3-1.5x sample efficiency.
It is meant for 2-D weights inside the network only: the embedding, the output head,
norms and biases keep AdamW (they are lookups or vectors, not linear maps between hidden
states). One optimizer, not two, so the scheduler, checkpoints and `fit` see one object.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

#: Quintic Newton-Schulz coefficients from the published algorithm: chosen to push every
#: singular value into roughly [0.7, 1.2] in five steps rather than converge exactly.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """An approximately semi-orthogonal matrix with the same singular vectors as `matrix`."""
    a, b, c = NS_COEFFICIENTS
    x = matrix.to(torch.bfloat16 if matrix.is_cuda else torch.float32)
    tall = x.size(0) > x.size(1)
    if tall:  # iterate on the smaller Gram matrix
        x = x.T
    x = x / (x.norm() + 1e-7)  # singular values into [0, 1], where the iteration converges
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(matrix.dtype)


class Muon(torch.optim.Optimizer):
    """Param groups with `muon=True` get Muon (lr `lr`, momentum `momentum`), the others AdamW (`betas`).

    Weight decay is decoupled in both (the weight shrinks by lr x weight_decay per step).
    """

    def __init__(self, groups: Iterable[dict[str, Any]], lr: float, betas: tuple[float, float] = (0.9, 0.95),
                 momentum: float = 0.95, ns_steps: int = 5, eps: float = 1e-8) -> None:
        defaults = dict(lr=lr, betas=betas, momentum=momentum, ns_steps=ns_steps, eps=eps, weight_decay=0.0,
                        muon=False)
        super().__init__(list(groups), defaults)
        for group in self.param_groups:
            if group["muon"] and any(p.dim() != 2 for p in group["params"]):
                raise ValueError("Muon groups take 2-D weight matrices only")

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - group["lr"] * group["weight_decay"])
                (self._muon if group["muon"] else self._adamw)(p, self.state[p], group)

    @staticmethod
    def _muon(p: torch.Tensor, state: dict, group: dict) -> None:
        momentum = group["momentum"]
        buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
        buf.lerp_(p.grad, 1 - momentum)
        nesterov = p.grad.lerp(buf, momentum)
        update = orthogonalize(nesterov, group["ns_steps"])
        # An orthogonal update has RMS ~ 1/sqrt(cols); tall matrices get it scaled back up.
        scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
        p.add_(update, alpha=-group["lr"] * scale)

    @staticmethod
    def _adamw(p: torch.Tensor, state: dict, group: dict) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        state["exp_avg"].lerp_(p.grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        first = 1 - beta1 ** state["step"]
        second = (1 - beta2 ** state["step"]) ** 0.5
        denominator = (state["exp_avg_sq"].sqrt() / second).add_(group["eps"])
        p.addcdiv_(state["exp_avg"], denominator, value=-group["lr"] / first)
