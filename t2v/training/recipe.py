"""A recipe owns what differs between model families: networks, optimisers, one training step, preview, export."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..config import Config


def linear_decay(total_steps: int, decay_start: float):
    """LambdaLR factor: 1 until `decay_start` * total_steps, then linearly down to 0 at total_steps (the schedule of
    Zhu et al.'s CycleGAN; shared by the recipes with a `model.lr_decay_start`)."""
    start = int(decay_start * total_steps)
    span = max(total_steps - start, 1)
    return lambda step: min(1.0, max(0.0, (total_steps - step) / span))


class Recipe:
    """Base class. The trainer prepares `nets`/`opts` with accelerate and replaces them with the prepared objects."""

    model_config: type
    ema_nets: tuple[str, ...] = ()  # names in `nets` whose EMA the trainer keeps (and uses for preview/export)

    def __init__(self, cfg: Config, accelerator: Any):
        self.cfg, self.accelerator = cfg, accelerator
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.scheds: dict[str, Any] = {}

    # --- to implement -------------------------------------------------------------------------------------------
    def build_dataset(self) -> torch.utils.data.Dataset:
        raise NotImplementedError

    def build(self, dataset: torch.utils.data.Dataset) -> None:
        """Create self.nets and self.opts (and optionally self.scheds)."""
        raise NotImplementedError

    def train_step(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step (all G/D alternation inside); returns scalar losses to log."""
        raise NotImplementedError

    def preview(self, nets: dict[str, nn.Module], step: int, out_dir: Path) -> list[Path]:
        """Write preview samples (main process only); `nets` holds EMA weights where there are any."""
        return []

    def export(self, nets: dict[str, nn.Module], out_dir: Path) -> Path:
        """Write a from_pretrained-able inference pipeline to out_dir (main process only)."""
        raise NotImplementedError

    # --- helpers ------------------------------------------------------------------------------------------------
    def unwrap(self, name: str) -> nn.Module:
        return self.accelerator.unwrap_model(self.nets[name])

    def update(self, name: str, loss: torch.Tensor, weight_clip: float = 0.0) -> None:
        """One optimiser step of nets[name] on `loss` (through accelerate); then clip its weights if asked (WGAN)."""
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        opt.step()
        if weight_clip:
            from ..losses.regularizers import clip_weights

            clip_weights(self.nets[name], weight_clip)

    @staticmethod
    @contextmanager
    def frozen(*modules: nn.Module) -> Iterator[None]:
        """Turn off requires_grad of `modules` (e.g. D during the G step) and restore it afterwards."""
        saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
        for p, _ in saved:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in saved:
                p.requires_grad_(flag)
