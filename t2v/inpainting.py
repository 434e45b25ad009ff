"""Semantic image inpainting with a trained GAN (Yeh et al. 2016): search G's latent space, then blend.

With M the known-pixel mask (1 = known), find ẑ = argmin_z  L_c(z) + λ·L_p(z) by gradient descent on z, where
L_c(z) = ‖W ⊙ (G(z) − x)‖₁ is the contextual loss (W = M; or the paper's importance weighting, which weights a
known pixel by the share of missing pixels in its window) and L_p(z) = log(1 − D(G(z))) the perceptual loss; then
return M ⊙ x + (1 − M) ⊙ G(ẑ). Several z are searched at once (independently: G and D run in eval mode) and the
one with the lowest final loss is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import T2VError
from .training.recipe import Recipe


@dataclass
class InpaintResult:
    image: torch.Tensor  # [3, H, W] in [-1, 1]: M ⊙ x + (1 − M) ⊙ G(ẑ)
    generated: torch.Tensor  # [3, H, W]: G(ẑ)
    z: torch.Tensor  # [z_dim]
    contextual: torch.Tensor  # [steps + 1]: L_c of the kept z before each step and at the end
    perceptual: torch.Tensor  # [steps + 1]: L_p of the kept z


def check_mask(mask: torch.Tensor, image: torch.Tensor) -> None:
    """One clear error for a mask that does not fit the image or leaves nothing (or everything) to fill."""
    if mask.shape[-2:] != image.shape[-2:]:
        raise T2VError(f"the mask is {mask.shape[-1]}x{mask.shape[-2]} pixels but the image is "
                       f"{image.shape[-1]}x{image.shape[-2]}; give a mask of the image's size")
    known = mask.float() > 0.5
    if bool(known.all()):
        raise T2VError("the mask marks every pixel as known (white); paint the region to fill in black")
    if not bool(known.any()):
        raise T2VError("the mask marks no pixel as known (all black); leave the known region white")


def importance_weights(mask: torch.Tensor, window: int) -> torch.Tensor:
    """Yeh et al.: W_i = M_i · (share of missing pixels in the `window` x `window` neighbourhood of i); 0 = W = M."""
    if window <= 0:
        return mask
    missing = F.avg_pool2d(1 - mask, window, stride=1, padding=window // 2, count_include_pad=False)
    return mask * missing[..., : mask.shape[-2], : mask.shape[-1]]


@dataclass
class InpaintBatch:
    """`inpaint_batch`'s result for N images: the same fields as InpaintResult with a leading N."""

    image: torch.Tensor  # [N, 3, H, W]
    generated: torch.Tensor  # [N, 3, H, W]
    z: torch.Tensor  # [N, z_dim]
    contextual: torch.Tensor  # [N, steps + 1]
    perceptual: torch.Tensor  # [N, steps + 1]


def inpaint_batch(
    generator: nn.Module,
    discriminator: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    ids: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    steps: int = 1500,
    lr: float = 0.01,
    lam: float = 0.003,
    candidates: int = 8,
    window: int = 0,
    seed: int = 0,
) -> InpaintBatch:
    """Fill the pixels of `images` [N, 3, H, W] (in [-1, 1]) where `masks` [N, H, W] (1 = known) are 0.

    `ids` / `text_mask` [N, L]: the captions of a text-conditional model. Adam on N x `candidates` latents at once;
    G and D run in eval mode, so every latent's loss depends on that latent alone and the searches are independent.
    Per image, the candidate with the lowest final L_c + λ·L_p is kept. Image i's candidates start from latents
    drawn with seed `seed + i`.
    """
    if images.dim() != 4 or masks.dim() != 3 or len(images) != len(masks):
        raise T2VError(f"need images [N, 3, H, W] and masks [N, H, W], got {tuple(images.shape)} and "
                       f"{tuple(masks.shape)}")
    for image, mask in zip(images, masks):
        check_mask(mask, image)
    if steps < 1 or candidates < 1:
        raise T2VError(f"steps and candidates must be positive, got {steps} and {candidates}")
    n, c = len(images), candidates
    device = next(generator.parameters()).device
    x = images.to(device).repeat_interleave(c, 0)  # [N*C, 3, H, W]: candidate j of image i at row i*C + j
    m = (masks.to(device) > 0.5).to(x.dtype)[:, None].repeat_interleave(c, 0)
    w = importance_weights(m, window)
    cond = {} if ids is None else {"ids": ids.to(device).repeat_interleave(c, 0),
                                   "mask": text_mask.to(device).repeat_interleave(c, 0)}
    starts = [torch.randn(c, generator.cfg.z_dim, generator=torch.Generator().manual_seed(seed + i)) for i in range(n)]
    z = torch.cat(starts).to(device).requires_grad_(True)  # image i starts from seed + i, whatever it is batched with
    opt = torch.optim.Adam([z], lr=lr)
    modes = (generator.training, discriminator.training)
    generator.eval(), discriminator.eval()
    history: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        with Recipe.frozen(generator, discriminator):
            for i in range(steps + 1):
                fake = generator(z, **cond)
                contextual = (w * (fake - x)).abs().flatten(1).sum(1)
                perceptual = -F.softplus(discriminator(fake, **cond))  # log(1 - sigmoid(logit)) = log(1 - D(G(z)))
                history.append((contextual.detach(), perceptual.detach()))
                if i == steps:
                    break
                opt.zero_grad(set_to_none=True)
                (contextual + lam * perceptual).sum().backward()
                opt.step()
    finally:
        generator.train(modes[0]), discriminator.train(modes[1])
    contextual, perceptual = (torch.stack(h, 1).view(n, c, steps + 1) for h in zip(*history))  # [N, C, steps + 1]
    best = (contextual[..., -1] + lam * perceptual[..., -1]).argmin(1)  # [N]
    rows = torch.arange(n, device=best.device)
    generated = fake.detach().view(n, c, *fake.shape[1:])[rows, best.to(fake.device)]
    known = m.view(n, c, *m.shape[1:])[:, 0]
    blended = known * x.view(n, c, *x.shape[1:])[:, 0] + (1 - known) * generated
    return InpaintBatch(blended, generated, z.detach().view(n, c, -1)[rows, best.to(z.device)],
                        contextual[rows, best], perceptual[rows, best])


def inpaint(
    generator: nn.Module,
    discriminator: nn.Module,
    image: torch.Tensor,
    mask: torch.Tensor,
    ids: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    **search: Any,
) -> InpaintResult:
    """Fill the pixels of `image` [3, H, W] (in [-1, 1]) where `mask` [H, W] (1 = known) is 0.

    `ids` / `text_mask` [1, L]: the caption of a text-conditional model. `search`: steps, lr, lam, candidates, window
    and seed, as `inpaint_batch` takes them.
    """
    check_mask(mask, image)
    r = inpaint_batch(generator, discriminator, image[None], mask[None], ids, text_mask, **search)
    return InpaintResult(r.image[0], r.generated[0], r.z[0], r.contextual[0], r.perceptual[0])
