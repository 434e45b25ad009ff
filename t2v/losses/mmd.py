"""Maximum mean discrepancy with a multi-bandwidth Gaussian kernel; GMMN (Li, Swersky, Zemel 2015)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

# bandwidths σ of the Gaussian kernels summed; GMMN used a similar spread (2 ... 80 for MNIST pixel space)
DEFAULT_BANDWIDTHS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def gaussian_kernel(x: Tensor, y: Tensor, bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS) -> Tensor:
    """k(x_i, y_j) = Σ_σ exp(-||x_i - y_j||² / (2σ²)) for flattened samples x [N, ...], y [M, ...] -> [N, M]."""
    x, y = x.flatten(1), y.flatten(1)
    d2 = (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp_min(0)
    return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)


def mmd2(x: Tensor, y: Tensor, bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS, unbiased: bool = True) -> Tensor:
    """Squared MMD between samples x and y. Unbiased (U-statistic, zero mean when x and y share a distribution,
    may be negative) or biased (V-statistic, always >= 0)."""
    kxx, kyy, kxy = (gaussian_kernel(a, b, bandwidths) for a, b in ((x, x), (y, y), (x, y)))
    n, m = kxx.shape[0], kyy.shape[0]
    if unbiased:
        xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        xx, yy = kxx.mean(), kyy.mean()
    return xx + yy - 2 * kxy.mean()


def mmd_loss(fake: Tensor, real: Tensor, bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS) -> Tensor:
    """GMMN generator objective: sqrt of the biased MMD² between a batch of samples and a batch of data."""
    return (mmd2(fake, real, bandwidths, unbiased=False).clamp_min(0) + 1e-8).sqrt()
