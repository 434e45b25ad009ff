"""Adversarial objectives by name: one class per objective, one registry line each.

Every loss takes the discriminator's raw outputs ("logits") and returns scalars:
`d_real` (D term on real / matched inputs), `d_fake` (D term on fakes / mismatched inputs),
`g` (generator term on the logits of fakes). Attributes carry what a training recipe needs besides the
loss value: `n_critic` (D steps per G step), `weight_clip` (WGAN), `gp_weight` (WGAN-GP λ) and a
recommended `optimizer`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from .fgan import F_DIVERGENCES, FDivergence


@dataclass(frozen=True)
class OptimizerHint:
    """The optimiser an objective's paper trains with; `build` makes it for a set of parameters."""

    name: str = "adam"  # adam | rmsprop
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)

    def build(self, params: Iterable[Any], lr: float | None = None) -> torch.optim.Optimizer:
        lr = self.lr if lr is None else lr
        if self.name == "adam":
            return torch.optim.Adam(params, lr=lr, betas=self.betas)
        if self.name == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        raise ConfigError(f"optimizer {self.name!r} is not known; use adam or rmsprop")


DCGAN_ADAM = OptimizerHint("adam", 2e-4, (0.5, 0.999))


class AdversarialLoss:
    """Base class: subclasses define `d_real`, `d_fake` and `g` on discriminator logits."""

    name: str = ""
    n_critic: int = 1  # discriminator steps per generator step
    weight_clip: float | None = None  # clamp every D parameter to [-c, c] after each D step (WGAN)
    gp_weight: float = 0.0  # λ of the gradient penalty on interpolates (WGAN-GP)
    optimizer: OptimizerHint = DCGAN_ADAM

    def d_real(self, logits: Tensor) -> Tensor:
        raise NotImplementedError

    def d_fake(self, logits: Tensor) -> Tensor:
        raise NotImplementedError

    def g(self, logits: Tensor) -> Tensor:
        raise NotImplementedError

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return self.d_real(real_logits) + self.d_fake(fake_logits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class MinimaxLoss(AdversarialLoss):
    """Goodfellow et al. 2014, saturating form: D maximises log D(x) + log(1 - D(G(z))), G minimises the latter."""

    def d_real(self, logits: Tensor) -> Tensor:
        return F.softplus(-logits).mean()  # -log sigmoid(l)

    def d_fake(self, logits: Tensor) -> Tensor:
        return F.softplus(logits).mean()  # -log(1 - sigmoid(l))

    def g(self, logits: Tensor) -> Tensor:
        return -F.softplus(logits).mean()  # log(1 - D(G(z)))


class NonSaturatingLoss(MinimaxLoss):
    """Goodfellow et al. 2014, the -log D(G(z)) generator heuristic; D as in minimax."""

    def g(self, logits: Tensor) -> Tensor:
        return F.softplus(-logits).mean()


class LSGANLoss(AdversarialLoss):
    """Mao et al. 2017 with targets a=0 (fake), b=1 (real), c=1 (what G wants), each term halved."""

    def d_real(self, logits: Tensor) -> Tensor:
        return 0.5 * (logits - 1).pow(2).mean()

    def d_fake(self, logits: Tensor) -> Tensor:
        return 0.5 * logits.pow(2).mean()

    def g(self, logits: Tensor) -> Tensor:
        return 0.5 * (logits - 1).pow(2).mean()


class HingeLoss(AdversarialLoss):
    """Lim & Ye 2017 / Miyato et al. 2018: D hinge at ±1, G maximises the critic."""

    def d_real(self, logits: Tensor) -> Tensor:
        return F.relu(1 - logits).mean()

    def d_fake(self, logits: Tensor) -> Tensor:
        return F.relu(1 + logits).mean()

    def g(self, logits: Tensor) -> Tensor:
        return -logits.mean()


class WGANLoss(AdversarialLoss):
    """Arjovsky et al. 2017: critic maximises E[D(x)] - E[D(G(z))] under weight clipping, RMSprop, 5 critic steps."""

    n_critic = 5
    weight_clip = 0.01
    optimizer = OptimizerHint("rmsprop", 5e-5)

    def d_real(self, logits: Tensor) -> Tensor:
        return -logits.mean()

    def d_fake(self, logits: Tensor) -> Tensor:
        return logits.mean()

    def g(self, logits: Tensor) -> Tensor:
        return -logits.mean()


class WGANGPLoss(WGANLoss):
    """Gulrajani et al. 2017: the WGAN critic with a gradient penalty (λ=10) instead of clipping, Adam."""

    weight_clip = None
    gp_weight = 10.0
    optimizer = OptimizerHint("adam", 1e-4, (0.0, 0.9))


class FGANLoss(AdversarialLoss):
    """Nowozin et al. 2016: D maximises E_P[g_f(V)] - E_Q[f*(g_f(V))], a lower bound on D_f(P||Q).

    G uses the paper's practical heuristic (maximise E_Q[g_f(V)]) unless `saturating=True`, where it
    minimises the bound itself.
    """

    saturating: bool = False

    def __init__(self, divergence: str) -> None:
        self.divergence: FDivergence = F_DIVERGENCES[divergence]

    def d_real(self, logits: Tensor) -> Tensor:
        return -self.divergence.activation(logits).mean()

    def d_fake(self, logits: Tensor) -> Tensor:
        return self.divergence.conjugate_of_logits(logits).mean()

    def g(self, logits: Tensor) -> Tensor:
        if self.saturating:
            return -self.divergence.conjugate_of_logits(logits).mean()
        return -self.divergence.activation(logits).mean()


ADVERSARIAL_LOSSES: dict[str, Callable[[], AdversarialLoss]] = {
    "minimax": MinimaxLoss,
    "non_saturating": NonSaturatingLoss,
    "lsgan": LSGANLoss,
    "hinge": HingeLoss,
    "wgan": WGANLoss,
    "wgan_gp": WGANGPLoss,
    "fgan_kl": partial(FGANLoss, "kl"),
    "fgan_reverse_kl": partial(FGANLoss, "reverse_kl"),
    "fgan_js": partial(FGANLoss, "js"),
    "fgan_pearson": partial(FGANLoss, "pearson"),
    "fgan_hellinger": partial(FGANLoss, "hellinger"),
    "fgan_tv": partial(FGANLoss, "tv"),
}

_SETTABLE = ("n_critic", "weight_clip", "gp_weight", "optimizer", "saturating")


def get_adversarial_loss(name: str, **overrides: Any) -> AdversarialLoss:
    """The objective registered under `name`; `overrides` replace its defaults (e.g. `n_critic=1`, `gp_weight=5`)."""
    if name not in ADVERSARIAL_LOSSES:
        raise ConfigError(f"unknown adversarial loss {name!r}; valid names: {', '.join(ADVERSARIAL_LOSSES)}")
    loss = ADVERSARIAL_LOSSES[name]()
    loss.name = name
    for key, value in overrides.items():
        if key not in _SETTABLE or not hasattr(loss, key):
            valid = ", ".join(k for k in _SETTABLE if hasattr(loss, k))
            raise ConfigError(f"loss {name!r} has no setting {key!r}; settable: {valid}")
        if key == "optimizer" and isinstance(value, dict):
            value = dataclasses.replace(loss.optimizer, **value)
        setattr(loss, key, value)
    return loss
