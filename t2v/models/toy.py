"""Toy 2-D GAN networks (MLPs), used by the trainer's smallest recipe and its tests."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .base import ModelMixin


@dataclass
class ToyModelConfig:
    noise_dim: int = 2
    hidden: int = 64
    layers: int = 2
    loss: str = "non_saturating"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    num_points: int = 2048  # size of the ring-of-8 training set
    std: float = 0.02


def mlp(din: int, dout: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(din if i == 0 else hidden, hidden), nn.LeakyReLU(0.2)]
    return nn.Sequential(*mods, nn.Linear(hidden, dout))


class ToyGenerator(ModelMixin, nn.Module):
    config_class = ToyModelConfig

    def __init__(self, config: ToyModelConfig):
        super().__init__()
        self.config = config
        self.net = mlp(config.noise_dim, 2, config.hidden, config.layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ToyDiscriminator(nn.Module):
    def __init__(self, config: ToyModelConfig):
        super().__init__()
        self.net = mlp(2, 1, config.hidden, config.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(modes, (n,), generator=g)
    angle = 2 * torch.pi * k / modes
    centers = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
    return centers + std * torch.randn(n, 2, generator=g)
