"""The classifier f behind CycleGAN's semantic term (CyCADA, Hoffman et al. 2018), and its adaptation to domain B.

`train_semantic_classifier` trains f on domain A's labelled images, then (with `adapt_steps > 0`) goes on with
self-training on domain B's unlabelled images, as FixMatch (Sohn et al. 2020) does: f labels a weakly augmented view of
each B image, the labels it is sure of (probability >= `threshold`) are its targets on a strongly augmented view, and
A's labelled batch stays in every step. Before thresholding f's probabilities are aligned with A's class frequencies
(distribution alignment, Berthelot et al. 2020, ReMixMatch), so a class that f under-reads on B is not starved. B's
labels are never read. All random draws come from one seeded generator: the same seed gives the same f.

The augmentations work on batches [N, C, H, W] in [-1, 1] with bright strokes or shapes on a dark ground, as the
digit datasets are: random affine maps, thicker or thinner strokes (grey dilation / erosion), a lower resolution
(average-pool by 2 or 4 and back), and cutout.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _uniform(n: int, scale: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * 2 - 1) * scale


def random_affine(x: torch.Tensor, gen: torch.Generator, rotate: float = 0.26, scale: float = 0.12,
                  shear: float = 0.3, shift: float = 0.08) -> torch.Tensor:
    """Each image turned by up to ±`rotate` radians, scaled by up to ±`scale`, sheared by up to ±`shear` and shifted by
    up to ±`shift` of its size (border pixels repeat into what comes into view)."""
    n = x.shape[0]
    ang, sc, sh = _uniform(n, rotate, gen), 1 + _uniform(n, scale, gen), _uniform(n, shear, gen)
    tx, ty = _uniform(n, shift, gen), _uniform(n, shift, gen)
    c, s = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([c, -s + sh * c, tx], 1), torch.stack([s, c, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def random_thickness(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per image: strokes unchanged, thickened (3x3 grey dilation) or thinned (3x3 grey erosion)."""
    pick = torch.randint(0, 3, (x.shape[0],), generator=gen)
    out = x.clone()
    thick, thin = (pick == 1).nonzero().flatten().to(x.device), (pick == 2).nonzero().flatten().to(x.device)
    if len(thick):
        out[thick] = F.max_pool2d(x[thick], 3, 1, 1)
    if len(thin):
        out[thin] = -F.max_pool2d(-x[thin], 3, 1, 1)
    return out


def random_resolution(x: torch.Tensor, gen: torch.Generator, factors: tuple[int, ...] = (1, 2, 4)) -> torch.Tensor:
    """Per image: kept, or average-pooled by one of `factors` and scaled back up (bilinear)."""
    h, w = x.shape[-2:]
    pick = torch.randint(0, len(factors), (x.shape[0],), generator=gen)
    out = x.clone()
    for i, k in enumerate(factors):
        rows = (pick == i).nonzero().flatten().to(x.device)
        if k > 1 and len(rows) and h % k == 0 and w % k == 0:
            small = F.avg_pool2d(x[rows], k)
            out[rows] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out


def cutout(x: torch.Tensor, gen: torch.Generator, fraction: float = 0.25) -> torch.Tensor:
    """Per image a square of `fraction` of the side set to the ground (-1) at a random place (DeVries & Taylor 2017)."""
    n, _, h, w = x.shape
    side = max(1, round(fraction * min(h, w)))
    top = torch.randint(0, h - side + 1, (n,), generator=gen).view(n, 1, 1)
    left = torch.randint(0, w - side + 1, (n,), generator=gen).view(n, 1, 1)
    r, c = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    hole = ((r >= top) & (r < top + side) & (c >= left) & (c < left + side)).unsqueeze(1).to(x.device)
    return x.masked_fill(hole, -1.0)


def source_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A's labelled images: shapes, strokes and resolution vary, so f does not learn one font's look."""
    return random_resolution(random_thickness(random_affine(x, gen), gen), gen)


def weak_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return random_affine(x, gen, rotate=0.1, scale=0.05, shear=0.1, shift=0.05)


def strong_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return cutout(random_thickness(random_affine(x, gen), gen), gen)


@dataclass
class SelfTrainingLog:
    """What the adaptation did over its last 100 steps (or all, if fewer): how many B images were confident enough to
    be trained on, and f's loss on them."""

    confident: float = 0.0
    loss: float = 0.0


def train_semantic_classifier(f: nn.Module, labelled: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                              unlabelled: Callable[[int], torch.Tensor], *, steps: int, adapt_steps: int, lr: float,
                              prior: torch.Tensor, gen: torch.Generator, augment: bool = True,
                              threshold: float = 0.9, batch: int = 64) -> SelfTrainingLog:
    """Train `f` (in place; left in train mode) on `labelled(n)` batches of A (`steps` + `adapt_steps` Adam steps),
    the last `adapt_steps` of them also on 2·`batch` images of `unlabelled(n)` per step, self-trained as the module
    says. `prior`: A's class frequencies [K] (sums to 1), the class distribution f's B readings are aligned with."""
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    source = source_view if augment else (lambda x, _gen: x)
    prior = prior.float()
    running = prior.clone()  # f's mean reading of B, a running average
    seen = [0.0, 0.0]
    tail = max(1, min(100, adapt_steps))
    for step in range(steps + adapt_steps):
        x, y = labelled(batch)
        loss = F.cross_entropy(f(source(x, gen)), y)
        if step >= steps:
            xb = unlabelled(2 * batch)
            with torch.no_grad():
                p = f(weak_view(xb, gen)).softmax(1)
                running = 0.99 * running + 0.01 * p.mean(0).cpu()
                p = p * (prior / running).to(p)
                conf, target = (p / p.sum(1, keepdim=True)).max(1)
                keep = (conf >= threshold).float()
            unsup = (F.cross_entropy(f(strong_view(xb, gen)), target, reduction="none") * keep).mean()
            loss = loss + unsup
            if step >= steps + adapt_steps - tail:
                seen[0] += float(keep.mean()) / tail
                seen[1] += float(unsup.detach()) / tail
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return SelfTrainingLog(confident=seen[0], loss=seen[1])


def fit_classifier(f: nn.Module, batches: Callable[[int], tuple[torch.Tensor, torch.Tensor]], *, steps: int,
                   lr: float, gen: torch.Generator, view: Callable = weak_view, batch: int = 64) -> float:
    """Train `f` (in place) for `steps` Adam steps on `batches(n)` -> (images, labels), each image seen through `view`.
    Returns f's accuracy on its last batch."""
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    hits = 0.0
    for _ in range(steps):
        x, y = batches(batch)
        logits = f(view(x, gen))
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        hits = float((logits.detach().argmax(1) == y).float().mean())
    return hits


def labelled_by(teacher: nn.Module, images: Callable[[int], torch.Tensor]) -> Callable[[int], tuple]:
    """Batches of `images(n)`, each labelled by the frozen `teacher`'s reading of it."""

    def batches(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = images(n)
        with torch.no_grad():
            return x, teacher(x).argmax(1)

    return batches
