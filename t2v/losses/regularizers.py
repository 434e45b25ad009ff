"""Regularisers: WGAN-GP gradient penalty, R1 / R2 penalties, WGAN weight clipping (D); mode seeking (G)."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn


def _grad_norm_sq(outputs: Tensor, inputs: Tensor) -> Tensor:
    """Per-sample squared norm of d(sum outputs)/d inputs, kept in the graph so it can be minimised."""
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1)


def gradient_penalty(
    critic_fn: Callable[..., Tensor], real: Tensor, fake: Tensor, *cond_args: Any, target: float = 1.0
) -> Tensor:
    """Gulrajani et al. 2017: E[(||∇D(x̂)|| - target)²] on x̂ = ε·real + (1-ε)·fake, ε ~ U[0,1] per sample.

    `cond_args` are passed to `critic_fn` after the interpolates (e.g. text features). Multiply by λ yourself.
    """
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    norm = (_grad_norm_sq(critic_fn(x_hat, *cond_args), x_hat) + 1e-12).sqrt()
    return (norm - target).pow(2).mean()


def r1_penalty(real_logits: Tensor, real_inputs: Tensor) -> Tensor:
    """Mescheder et al. 2018: 0.5·E||∇_x D(x)||² on real inputs (which must require grad). Multiply by γ."""
    return 0.5 * _grad_norm_sq(real_logits, real_inputs).mean()


def r2_penalty(fake_logits: Tensor, fake_inputs: Tensor) -> Tensor:
    """R1's counterpart on generated inputs: 0.5·E||∇_x D(G(z))||² (`fake_inputs` must require grad)."""
    return 0.5 * _grad_norm_sq(fake_logits, fake_inputs).mean()


def mode_seeking_loss(out_a: Tensor, out_b: Tensor, z_a: Tensor, z_b: Tensor, eps: float = 1e-5) -> Tensor:
    """Mao et al. 2019 (MSGAN): 1 / (mean|G(c, z_a) - G(c, z_b)| / mean|z_a - z_b| + eps), for G to minimise.

    Two outputs of the same conditions from different noise; the ratio is small when G ignores its noise (the
    conditional collapse to one output per condition), so minimising the reciprocal pushes the outputs apart in
    proportion to how far apart their noise was. Multiply by λ yourself (the paper uses 1).
    """
    ratio = (out_a - out_b).abs().mean() / (z_a - z_b).abs().mean()
    return 1.0 / (ratio + eps)


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """WGAN (Arjovsky et al. 2017): clamp every parameter of `module` to [-c, c] in place."""
    for p in module.parameters():
        p.clamp_(-c, c)
