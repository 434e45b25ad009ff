"""VAE terms: reparameterisation, Gaussian KL (to N(0, I) and between diagonal Gaussians), reconstruction NLLs.

Every term sums over the non-batch dimensions; `reduction` then takes the batch "mean" (default), "sum", or
"none" (per-sample values, shape [B]).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

_LOG_2PI = math.log(2 * math.pi)


def _reduce(per_element: Tensor, reduction: str) -> Tensor:
    per_sample = per_element.flatten(1).sum(1)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ConfigError(f"reduction {reduction!r} is not known; use mean, sum or none")


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = μ + σ·ε, ε ~ N(0, I): a sample of N(μ, diag σ²) that is differentiable in μ and log σ²."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_normal_std(mu: Tensor, logvar: Tensor, reduction: str = "mean") -> Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ (μ² + σ² - 1 - log σ²)."""
    return _reduce(0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar), reduction)


def kl_normal(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor, reduction: str = "mean") -> Tensor:
    """KL(N(μ_q, σ_q²) || N(μ_p, σ_p²)) for diagonal Gaussians, e.g. a posterior against a learned prior."""
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1)
    return _reduce(kl, reduction)


def bernoulli_nll(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """-log p(x | logits) under independent Bernoullis; `target` in [0, 1] (binary or grey levels)."""
    return _reduce(F.binary_cross_entropy_with_logits(logits, target, reduction="none"), reduction)


def gaussian_nll(mean: Tensor, target: Tensor, logvar: Tensor | float = 0.0, reduction: str = "mean") -> Tensor:
    """-log N(x | mean, diag exp(logvar)), including the ½ log 2π constant; `logvar` may be a float (fixed σ²)."""
    logvar = torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device)
    nll = 0.5 * (_LOG_2PI + logvar + (target - mean).pow(2) / logvar.exp())
    return _reduce(nll.expand_as(mean), reduction)


def categorical_entropy(logits: Tensor) -> Tensor:
    """H(q) = -Σ_k q_k log q_k of softmax(logits) over the last dimension, per row."""
    log_q = F.log_softmax(logits, dim=-1)
    return -(log_q.exp() * log_q).sum(-1)


def marginal_neg_elbo(neg_elbo_per_class: Tensor, class_logits: Tensor) -> Tensor:
    """M2's bound on an unlabeled x (Kingma et al. 2014, eq. 7), negated: -U(x) = Σ_y q(y|x)·(-L(x, y)) - H(q(y|x)).

    `neg_elbo_per_class` [B, K] holds -L(x, y) for every class y (including -log p(y)); `class_logits` [B, K]
    are the classifier's logits of q(y|x). Returns [B].
    """
    q = F.softmax(class_logits, dim=-1)
    return (q * neg_elbo_per_class).sum(-1) - categorical_entropy(class_logits)
