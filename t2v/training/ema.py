"""Exponential moving average of a network's parameters (buffers are copied), and BatchNorm statistics recomputed
for averaged weights."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        """Move the average towards `model` by 1 - decay (self.decay unless given; 0 copies the weights)."""
        decay = self.decay if decay is None else decay
        params = dict(model.named_parameters())
        for name, p in self.model.named_parameters():
            p.lerp_(params[name].detach().to(p.dtype), 1.0 - decay)
        bufs = dict(model.named_buffers())
        for name, b in self.model.named_buffers():
            b.copy_(bufs[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, forward: Callable[[], object], batches: int) -> bool:
    """Re-estimate the BatchNorm running statistics of `model` as the plain mean over `batches` calls of `forward`
    (which runs `model` on fresh inputs), with only the BatchNorm layers in training mode; every other layer and the
    weights are untouched. An EMA's copied buffers are the live network's statistics, not those of the averaged
    weights ("standing statistics", Brock et al. 2019). Returns False (and does nothing) without BatchNorm."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or batches < 1:
        return False
    saved = [(m, m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calls
        m.train()
    try:
        for _ in range(batches):
            forward()
    finally:
        for m, momentum, training in saved:
            m.momentum = momentum
            m.train(training)
    return True
