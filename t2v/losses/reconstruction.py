"""Reconstruction terms that do not let a textured background drown a small foreground.

On Scene-Actions-like data the actor covers a few percent of the pixels while the background carries per-clip
texture noise. A plain L1 is then minimised by the background alone (the per-pixel median of an uncertain actor
position is background), so a gist CVAE learns horizons and textures long before it draws anybody. Weighting the
pixels that stand out from their neighbourhood (|x - box_blur(x)| above a threshold: outlines of figures, boats,
flags) makes the small objects worth encoding from the first few hundred steps.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def saliency_weights(target: Tensor, weight: float, threshold: float = 0.25, kernel: int = 9) -> Tensor:
    """Per-pixel weights [B, 1, (T,) H, W]: 1 + weight where the target differs from its local mean by > threshold.

    `target` is an image [B, C, H, W] or a clip [B, C, T, H, W] in [-1, 1]; frames are treated independently.
    """
    if target.dim() not in (4, 5):
        raise ValueError(f"expected [B, C, H, W] or [B, C, T, H, W], got shape {list(target.shape)}")
    x = target.detach()
    clip = x.dim() == 5
    if clip:
        b, c, t, h, w = x.shape
        x = x.transpose(1, 2).reshape(b * t, c, h, w)
    pad = kernel // 2
    local = F.avg_pool2d(F.pad(x, (pad, pad, pad, pad), mode="replicate"), kernel, stride=1)
    salient = ((x - local).abs().mean(1, keepdim=True) > threshold).to(x.dtype)
    wmap = 1 + weight * salient
    if clip:
        wmap = wmap.reshape(b, t, 1, h, w).transpose(1, 2)
    return wmap


def weighted_l1(prediction: Tensor, target: Tensor, weight: float = 0.0, threshold: float = 0.25) -> Tensor:
    """Mean of saliency-weighted |prediction - target|; with weight 0 this is exactly F.l1_loss."""
    if weight <= 0:
        return F.l1_loss(prediction, target)
    return (saliency_weights(target, weight, threshold) * (prediction - target).abs()).mean()
