"""The VAE family on images: VAE (Kingma & Welling 2014), conditional VAE (Sohn et al. 2015) and the
semi-supervised classification VAE M2 (Kingma, Rezende, Mohamed, Welling 2014), plus M2's classifier q(y|x) on
its own (the labels-only baseline M2 is compared with).

Pixels are in [0, 1] with a Bernoulli likelihood per pixel (grey levels as targets). Every `neg_elbo` is
-ELBO per sample in nats: reconstruction NLL (one reparameterised sample) + analytic KL(q(z|x[,y]) || N(0, I)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..losses.vae import bernoulli_nll, kl_normal_std, marginal_neg_elbo, reparameterize
from ..nn import conv2d_block
from .base import ModelMixin, read_json

KINDS = ("vae", "cvae", "m2", "classifier")


@dataclass
class VAEModelConfig:
    kind: str = "vae"  # vae | cvae | m2 | classifier (M2's q(y|x) trained on the labeled examples alone)
    arch: str = "conv"  # conv: strided convs / up-convs; mlp: one hidden layer of softplus units (Kingma et al.)
    size: int = 32  # image height = width
    channels: int = 1  # image channels modelled (grey digits are stored as 3 equal channels: the first is used)
    latent_dim: int = 16
    hidden: int = 512  # units of the dense hidden layer (mlp: the only one; conv: after the convs)
    conv_channels: int = 32  # width of the first conv, doubled at every halving
    num_classes: int = 10
    label: str = "digit"  # dataset label that conditions (cvae) or is predicted (m2, classifier)
    # training (recipe side)
    domain: str = ""  # train on this dataset domain only ("" = all)
    lr: float = 1e-3  # Adam
    labels_per_class: int = 10  # m2 / classifier: labeled examples per class, drawn from the split by train.seed
    labeled_batch: int = 100  # m2: labeled examples per step, besides data.batch_size unlabeled ones
    alpha: float = 0.1  # m2: the classification term's weight is alpha * N (Kingma et al. 2014: 0.1 * N)

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"model.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.arch not in ("conv", "mlp"):
            raise ConfigError(f"model.arch must be conv or mlp, got {self.arch!r}")
        if self.arch == "conv" and (self.size < 8 or self.size & (self.size - 1)):
            raise ConfigError(f"model.size must be a power of two >= 8 for arch conv, got {self.size}")
        for name in ("latent_dim", "hidden", "conv_channels", "channels", "num_classes", "labels_per_class",
                     "labeled_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.alpha < 0 or self.lr <= 0:
            raise ConfigError("model.alpha must be >= 0 and model.lr > 0")

    @property
    def conditional(self) -> bool:
        """Whether the encoder and decoder see the class y."""
        return self.kind in ("cvae", "m2")


def _levels(cfg: VAEModelConfig) -> int:
    """Stride-2 convolutions from `size` down to 4x4."""
    return int(math.log2(cfg.size // 4))


class ImageFeatures(nn.Module):
    """x [B, C, H, W] in [0, 1] -> features [B, hidden]: strided convs + a dense layer, or one dense layer."""

    def __init__(self, cfg: VAEModelConfig) -> None:
        super().__init__()
        if cfg.arch == "mlp":
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(cfg.channels * cfg.size**2, cfg.hidden), nn.Softplus())
            return
        widths = [cfg.channels] + [cfg.conv_channels * 2**i for i in range(_levels(cfg))]
        convs = [conv2d_block(a, b, norm=False) for a, b in zip(widths, widths[1:])]
        self.net = nn.Sequential(*convs, nn.Flatten(), nn.Linear(widths[-1] * 16, cfg.hidden), nn.LeakyReLU(0.2))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ImageDecoder(nn.Module):
    """code [B, D] -> Bernoulli logits [B, C, H, W]: the mirror of ImageFeatures."""

    def __init__(self, cfg: VAEModelConfig, in_features: int) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.arch == "mlp":
            self.net = nn.Sequential(
                nn.Linear(in_features, cfg.hidden), nn.Softplus(), nn.Linear(cfg.hidden, cfg.channels * cfg.size**2)
            )
            return
        widths = [cfg.conv_channels * 2**i for i in reversed(range(_levels(cfg)))]
        ups: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(
            nn.Linear(in_features, cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, widths[0] * 16), nn.LeakyReLU(0.2),
            nn.Unflatten(1, (widths[0], 4, 4)),
            *ups, nn.ConvTranspose2d(widths[-1], cfg.channels, 4, 2, 1),
        )

    def forward(self, code: Tensor) -> Tensor:
        out = self.net(code)
        c, s = self.cfg.channels, self.cfg.size
        return rearrange(out, "b (c h w) -> b c h w", c=c, h=s, w=s) if out.dim() == 2 else out


class ImageClassifier(ModelMixin, nn.Module):
    """q(y|x): ImageFeatures + a linear layer to class logits. M2's classifier, and on its own M2's baseline."""

    config_class = VAEModelConfig

    def __init__(self, config: VAEModelConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.features = ImageFeatures(config)
        self.out = nn.Linear(config.hidden, config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))


class VAE(ModelMixin, nn.Module):
    """q(z | x[, y]) = N(μ, diag σ²), p(z) = N(0, I), p(x | z[, y]) Bernoulli; kind m2 adds q(y | x) and a uniform p(y)."""

    config_class = VAEModelConfig

    def __init__(self, config: VAEModelConfig) -> None:
        super().__init__()
        config.check()
        if config.kind == "classifier":
            raise ConfigError("model.kind classifier is an ImageClassifier, not a VAE; use build_model")
        self.config = config
        k = config.num_classes if config.conditional else 0
        self.features = ImageFeatures(config)
        self.to_latent = nn.Linear(config.hidden + k, 2 * config.latent_dim)
        self.decoder = ImageDecoder(config, config.latent_dim + k)
        self.classifier = ImageClassifier(config) if config.kind == "m2" else None

    def _with_class(self, h: Tensor, y: Tensor | None) -> Tensor:
        if not self.config.conditional:
            return h
        if y is None:
            raise ValueError(f"a {self.config.kind} model needs the class y")
        return torch.cat([h, F.one_hot(y, self.config.num_classes).to(h.dtype)], 1)

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """μ, log σ² of q(z | x[, y]), each [B, latent_dim]."""
        return self._posterior(self.features(x), y)

    def _posterior(self, features: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        mu, logvar = self.to_latent(self._with_class(features, y)).chunk(2, 1)
        return mu, logvar

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Bernoulli logits of p(x | z[, y])."""
        return self.decoder(self._with_class(z, y))

    def _neg_elbo(self, features: Tensor, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        mu, logvar = self._posterior(features, y)
        logits = self.decode(reparameterize(mu, logvar), y)
        return bernoulli_nll(logits, x, reduction="none"), kl_normal_std(mu, logvar, reduction="none")

    def neg_elbo(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(reconstruction NLL, KL) per sample, [B] each: -ELBO = their sum (M2 adds -log p(y) = log K)."""
        return self._neg_elbo(self.features(x), x, y)

    def labeled_neg_elbo(self, x: Tensor, y: Tensor) -> Tensor:
        """M2: -L(x, y) = NLL + KL - log p(y), p(y) uniform over the classes; [B]."""
        rec, kl = self.neg_elbo(x, y)
        return rec + kl + math.log(self.config.num_classes)

    def unlabeled_neg_elbo(self, x: Tensor, class_logits: Tensor | None = None) -> Tensor:
        """M2: -U(x) = Σ_y q(y|x)·(-L(x, y)) - H(q(y|x)), summing over every class exactly; [B].
        `class_logits` = classify(x) when already computed. The features of x are computed once for all y."""
        k = self.config.num_classes
        xs = repeat(x, "b ... -> (b k) ...", k=k)
        hs = repeat(self.features(x), "b d -> (b k) d", k=k)
        ys = repeat(torch.arange(k, device=x.device), "k -> (b k)", b=x.shape[0])
        rec, kl = self._neg_elbo(hs, xs, ys)
        per_class = rearrange(rec + kl, "(b k) -> b k", k=k) + math.log(k)
        return marginal_neg_elbo(per_class, self.classify(x) if class_logits is None else class_logits)

    def classify(self, x: Tensor) -> Tensor:
        """M2: logits of q(y | x)."""
        if self.classifier is None:
            raise ValueError(f"a {self.config.kind} model has no classifier")
        return self.classifier(x)

    def forward(self, x: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        """Training terms per sample. vae / cvae: "rec", "kl" and "neg_elbo" (their sum). m2: "neg_elbo" is
        -L(x, y) where y >= 0 and -U(x) where y < 0 (unlabeled), and "logits" of q(y | x) for every row."""
        if self.config.kind != "m2":
            rec, kl = self.neg_elbo(x, y)
            return {"rec": rec, "kl": kl, "neg_elbo": rec + kl}
        if y is None:
            raise ValueError("an m2 model needs y (-1 marks an unlabeled row)")
        logits = self.classify(x)
        known = y >= 0
        neg_elbo = torch.empty(x.shape[0], dtype=logits.dtype, device=x.device)
        if known.any():
            neg_elbo[known] = self.labeled_neg_elbo(x[known], y[known])
        if not known.all():
            neg_elbo[~known] = self.unlabeled_neg_elbo(x[~known], logits[~known])
        return {"neg_elbo": neg_elbo, "logits": logits}

    @torch.no_grad()
    def sample(self, n: int, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n images [n, C, H, W] in [0, 1]: the Bernoulli means of p(x | z[, y]) for z ~ N(0, I)."""
        dev = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(dev)
        return torch.sigmoid(self.decode(z, None if y is None else y.to(dev)))


def build_model(config: VAEModelConfig) -> VAE | ImageClassifier:
    return ImageClassifier(config) if config.kind == "classifier" else VAE(config)


def load_model(directory: str | Path) -> VAE | ImageClassifier:
    """Load an exported VAE-family model, whichever kind its config.json says."""
    kind = read_json(Path(directory) / "config.json").get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{directory} is not an exported VAE-family model (kind={kind!r})")
    return (ImageClassifier if kind == "classifier" else VAE).from_pretrained(directory)
