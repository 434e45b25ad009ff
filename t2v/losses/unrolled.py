"""Unrolled GAN (Metz, Poole, Pfau, Sohl-Dickstein 2017): the generator's loss against a discriminator that has
taken k further (differentiable) optimisation steps. The real discriminator is never modified: its parameters
are copied into a dict and updated out of place through `torch.func.functional_call`."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import ConfigError
from .adversarial import AdversarialLoss

DiscriminatorFn = Callable[..., Any]


def unroll_discriminator(
    discriminator: nn.Module,
    d_loss_fn: Callable[[DiscriminatorFn], Tensor],
    steps: int,
    lr: float,
    optimizer: str | torch.optim.Adam = "sgd",
    betas: tuple[float, float] = (0.5, 0.999),
    eps: float = 1e-8,
    differentiable: bool = True,
) -> DiscriminatorFn:
    """Run `steps` optimisation steps on a copy of `discriminator`'s parameters and return it as a function.

    `d_loss_fn(d)` computes the discriminator loss with `d` standing for the discriminator (call `d(x, ...)`
    like the module). With `differentiable=True` the steps stay in the autograd graph, so a generator loss
    computed with the returned function back-propagates through them (the paper's surrogate objective).

    `optimizer`: "sgd" (the paper's equations), "adam" (fresh moments, `betas`) or the discriminator's own
    `torch.optim.Adam`, whose moments, step count and betas the unrolled steps continue from (as the paper's
    code does) without modifying it. Fresh Adam moments make the first update ≈ lr·sign(grad), whose derivative
    is ~0 almost everywhere, so back-propagating through it carries little signal: prefer "sgd" or a live Adam.
    """
    if steps < 0:
        raise ConfigError(f"unrolling steps must be >= 0, got {steps}")
    if not (optimizer in ("sgd", "adam") or isinstance(optimizer, torch.optim.Adam)):
        raise ConfigError(f"unrolling optimizer {optimizer!r} is not known; use sgd, adam or a torch.optim.Adam")
    names = [n for n, p in discriminator.named_parameters() if p.requires_grad]
    params = {n: p.detach().clone().requires_grad_(True) for n, p in discriminator.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in discriminator.named_buffers()}

    def as_fn(state: dict[str, Tensor]) -> DiscriminatorFn:
        return lambda *args, **kwargs: functional_call(discriminator, {**state, **buffers}, args, kwargs)

    m = {n: torch.zeros_like(params[n]) for n in names}
    v = {n: torch.zeros_like(params[n]) for n in names}
    step0 = {n: 0 for n in names}
    if isinstance(optimizer, torch.optim.Adam):
        betas, eps = optimizer.defaults["betas"], optimizer.defaults["eps"]
        live = dict(discriminator.named_parameters())
        for n in names:
            state = optimizer.state.get(live[n], {})
            if state:
                m[n], v[n] = state["exp_avg"].detach().clone(), state["exp_avg_sq"].detach().clone()
                step0[n] = int(state["step"])
        optimizer = "adam"
    b1, b2 = betas
    for k in range(1, steps + 1):
        loss = d_loss_fn(as_fn(params))
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=differentiable, allow_unused=True)
        new = dict(params)
        for n, g in zip(names, grads):
            if g is None:
                continue
            if not differentiable:
                g = g.detach()
            if optimizer == "sgd":
                new[n] = params[n] - lr * g
                continue
            t = step0[n] + k
            m[n] = b1 * m[n] + (1 - b1) * g
            v[n] = b2 * v[n] + (1 - b2) * g * g
            m_hat, v_hat = m[n] / (1 - b1**t), v[n] / (1 - b2**t)
            new[n] = params[n] - lr * m_hat / (v_hat + eps * eps).sqrt()  # no sqrt'(0) = inf in the graph
        if not differentiable:
            new = {n: p.detach().requires_grad_(True) for n, p in new.items()}
        params = new
    return as_fn(params)


def unrolled_generator_loss(
    discriminator: nn.Module,
    loss: AdversarialLoss,
    real: Tensor,
    fake: Tensor,
    steps: int,
    lr: float,
    optimizer: str | torch.optim.Adam = "sgd",
    betas: tuple[float, float] = (0.5, 0.999),
    differentiable: bool = True,
) -> Tensor:
    """`loss.g` on `fake` scored by the discriminator after `steps` unrolled `loss.d_loss` steps on (real, fake)."""
    d_k = unroll_discriminator(
        discriminator, lambda d: loss.d_loss(d(real), d(fake)), steps, lr, optimizer, betas,
        differentiable=differentiable,
    )
    return loss.g(d_k(fake))
