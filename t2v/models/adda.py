"""ADDA (Tzeng et al. 2017): LeNet encoders, a linear classifier and the domain discriminator.

Encoder (the LeNet of the ADDA digit experiments): conv5-20, max-pool 2, ReLU, conv5-50, max-pool 2, ReLU, fully
connected 500, ReLU. Classifier: one linear layer on the encoder's features. Discriminator: two 500-unit ReLU
layers, then one logit (source = real), on the encoder's features (`adapt: features`, the paper's description) or on
the fixed classifier's class logits (`adapt: logits`, what the authors' code adapts: its target "encoder" is the
whole LeNet up to the 10-way layer, compared in aggregate over a batch). `ADDAClassifier` is what training exports:
both encoders + the classifier.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ConfigError
from .base import ModelMixin


@dataclass
class ADDAModelConfig:
    """The `model` section of an adda config: networks, domains, the two phases and their optimisers."""

    in_channels: int = 1  # 1: images are turned to gray (the mean of their RGB channels), as LeNet's digits
    size: int = 32  # input H = W
    conv_channels: list[int] = field(default_factory=lambda: [20, 50])
    feature_dim: int = 500
    num_classes: int = 10
    dropout: float = 0.0  # on the features, before the classifier (training only)
    disc_hidden: list[int] = field(default_factory=lambda: [500, 500])
    adapt: str = "features"  # what D compares: encoder features | the classifier's logits (authors' code)
    label: str = "digit"  # the dataset label the classifier predicts
    source: str = "domain=source"  # selectors (t2v.data.domains): labelled source, unlabelled target
    target: str = "domain=target"
    pretrain_steps: int = 10000  # phase 1: source encoder + classifier on labelled source images
    pretrain_lr: float = 1e-3
    lr: float = 2e-4  # phase 2: target encoder and discriminator
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    loss: str = "non_saturating"  # adversarial objective (t2v.losses); non_saturating = ADDA's inverted-label GAN loss

    def check(self) -> None:
        if len(self.conv_channels) != 2 or min(self.conv_channels) < 1:
            raise ConfigError("model.conv_channels must be two positive channel counts (LeNet's two conv layers)")
        if (self.size - 4) % 2 or ((self.size - 4) // 2 - 4) % 2 or self.size < 16:
            raise ConfigError(f"model.size {self.size}: LeNet needs size - 4 and (size - 4) / 2 - 4 even and positive, "
                              "e.g. 28 or 32")
        if self.feature_dim < 1 or self.num_classes < 2 or not self.disc_hidden or min(self.disc_hidden) < 1:
            raise ConfigError("model.feature_dim, num_classes (>= 2) and disc_hidden widths must be positive")
        if self.adapt not in ("features", "logits"):
            raise ConfigError(f"model.adapt must be features or logits, got {self.adapt!r}")
        if self.pretrain_steps < 0:
            raise ConfigError("model.pretrain_steps must be >= 0")


class LeNetEncoder(nn.Module):
    """Image [B, C, H, W] in [-1, 1] -> features [B, feature_dim]."""

    def __init__(self, config: ADDAModelConfig):
        super().__init__()
        self.in_channels = config.in_channels
        c1, c2 = config.conv_channels
        side = ((config.size - 4) // 2 - 4) // 2
        self.net = nn.Sequential(
            nn.Conv2d(config.in_channels, c1, 5), nn.MaxPool2d(2), nn.ReLU(True),
            nn.Conv2d(c1, c2, 5), nn.MaxPool2d(2), nn.ReLU(True),
            nn.Flatten(), nn.Linear(c2 * side * side, config.feature_dim), nn.ReLU(True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1 and x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        return self.net(x)


class DomainDiscriminator(nn.Module):
    """Features [B, feature_dim] (or class logits [B, num_classes] with `adapt: logits`) -> logit [B] that they come
    from the source encoder."""

    def __init__(self, config: ADDAModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        d = config.num_classes if config.adapt == "logits" else config.feature_dim
        for h in config.disc_hidden:
            layers += [nn.Linear(d, h), nn.ReLU(True)]
            d = h
        self.net = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(1)


class ADDAClassifier(ModelMixin, nn.Module):
    """Source encoder, target encoder and the classifier trained on source features."""

    config_class = ADDAModelConfig

    def __init__(self, config: ADDAModelConfig):
        super().__init__()
        config.check()
        self.config = config
        self.source_encoder = LeNetEncoder(config)
        self.target_encoder = LeNetEncoder(config)
        self.classifier = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes))

    def forward(self, x: torch.Tensor, encoder: str = "target") -> torch.Tensor:
        """Class logits [B, num_classes] through the `target` (adapted) or `source` encoder."""
        if encoder not in ("source", "target"):
            raise ValueError(f"encoder must be 'source' or 'target', got {encoder!r}")
        enc = self.target_encoder if encoder == "target" else self.source_encoder
        return self.classifier(enc(x))
