"""f-divergences for f-GAN (Nowozin, Cseke, Tomioka 2016, Tables 1 and 2).

For each divergence D_f(P||Q) = ∫ q f(p/q): the generator function `f`, the output activation `g_f` that maps
a critic's logits V into the domain of the convex conjugate, the conjugate `f*`, and `f'` (the optimal critic
is T* = f'(p/q)). Variational bound: D_f(P||Q) >= E_P[T] - E_Q[f*(T)] for any T.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

_LOG2 = math.log(2.0)
Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class FDivergence:
    name: str
    f: Fn  # generator function, u = p/q
    f_prime: Fn  # derivative: optimal T* = f'(p/q)
    activation: Fn  # g_f: logits -> T
    conjugate: Fn  # f*(t), on T values
    conjugate_of_logits: Fn  # f*(g_f(v)) written in v for numerical stability


F_DIVERGENCES: dict[str, FDivergence] = {
    # KL(P||Q)
    "kl": FDivergence(
        "kl",
        f=lambda u: u * torch.log(u),
        f_prime=lambda u: 1 + torch.log(u),
        activation=lambda v: v,
        conjugate=lambda t: torch.exp(t - 1),
        conjugate_of_logits=lambda v: torch.exp(v - 1),
    ),
    # KL(Q||P)
    "reverse_kl": FDivergence(
        "reverse_kl",
        f=lambda u: -torch.log(u),
        f_prime=lambda u: -1 / u,
        activation=lambda v: -torch.exp(-v),
        conjugate=lambda t: -1 - torch.log(-t),
        conjugate_of_logits=lambda v: v - 1,
    ),
    # KL(P||M) + KL(Q||M) with M = (P+Q)/2, i.e. twice the Jensen–Shannon divergence (the paper's f)
    "js": FDivergence(
        "js",
        f=lambda u: u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2),
        f_prime=lambda u: torch.log(2 * u / (u + 1)),
        activation=lambda v: _LOG2 - F.softplus(-v),
        conjugate=lambda t: -torch.log(2 - torch.exp(t)),
        conjugate_of_logits=lambda v: F.softplus(v) - _LOG2,
    ),
    # Pearson χ²: ∫ (p - q)² / q
    "pearson": FDivergence(
        "pearson",
        f=lambda u: (u - 1) ** 2,
        f_prime=lambda u: 2 * (u - 1),
        activation=lambda v: v,
        conjugate=lambda t: t**2 / 4 + t,
        conjugate_of_logits=lambda v: v**2 / 4 + v,
    ),
    # squared Hellinger: ∫ (√p - √q)²
    "hellinger": FDivergence(
        "hellinger",
        f=lambda u: (torch.sqrt(u) - 1) ** 2,
        f_prime=lambda u: 1 - 1 / torch.sqrt(u),
        activation=lambda v: 1 - torch.exp(-v),
        conjugate=lambda t: t / (1 - t),
        conjugate_of_logits=lambda v: torch.expm1(v),
    ),
    # total variation: ½ ∫ |p - q|
    "tv": FDivergence(
        "tv",
        f=lambda u: 0.5 * (u - 1).abs(),
        f_prime=lambda u: 0.5 * torch.sign(u - 1),
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate=lambda t: t,
        conjugate_of_logits=lambda v: 0.5 * torch.tanh(v),
    ),
}


def get_f_divergence(name: str) -> FDivergence:
    if name not in F_DIVERGENCES:
        raise ConfigError(f"unknown f-divergence {name!r}; valid names: {', '.join(F_DIVERGENCES)}")
    return F_DIVERGENCES[name]


def f_divergence_bound(divergence: str | FDivergence, t_real: Tensor, t_fake: Tensor) -> Tensor:
    """E_P[T] - E_Q[f*(T)] from critic values T (already in the conjugate's domain) on samples of P and Q."""
    div = get_f_divergence(divergence) if isinstance(divergence, str) else divergence
    return t_real.mean() - div.conjugate(t_fake).mean()


def f_divergence_estimate(divergence: str | FDivergence, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E_P[g_f(V)] - E_Q[f*(g_f(V))] from a critic's raw logits V on samples of P (real) and Q (fake)."""
    div = get_f_divergence(divergence) if isinstance(divergence, str) else divergence
    return div.activation(real_logits).mean() - div.conjugate_of_logits(fake_logits).mean()
