"""The semantic classifier's augmentations and its self-training on an unlabelled domain (t2v.training.semantic)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t2v.training.semantic import (
    cutout, random_affine, random_resolution, random_thickness, source_view, strong_view,
    train_semantic_classifier, weak_view,
)


def squares(n: int = 8, size: int = 16, side: int = 4) -> torch.Tensor:
    """[n, 3, size, size] in [-1, 1]: a bright square on a dark ground, at a different place in each image."""
    x = torch.full((n, 3, size, size), -1.0)
    for i in range(n):
        r, c = 2 + i % 6, 2 + (i * 5) % 9
        x[i, :, r : r + side, c : c + side] = 1.0
    return x


def test_augmentations_keep_shape_and_range_and_follow_the_generator():
    x = squares()
    for fn in (random_affine, random_thickness, random_resolution, cutout, source_view, weak_view, strong_view):
        a = fn(x, torch.Generator().manual_seed(3))
        b = fn(x, torch.Generator().manual_seed(3))
        assert a.shape == x.shape and a.dtype == x.dtype, fn.__name__
        assert a.min() >= -1 - 1e-5 and a.max() <= 1 + 1e-5, fn.__name__
        assert torch.equal(a, b), fn.__name__  # the seed decides every draw
        assert not torch.equal(a, x), fn.__name__
    assert not torch.equal(random_affine(x, torch.Generator().manual_seed(3)),
                           random_affine(x, torch.Generator().manual_seed(4)))


def test_thickness_dilates_erodes_or_keeps_each_image():
    x = squares(n=30)
    out = random_thickness(x, torch.Generator().manual_seed(0))
    ink, ink_out = (x > 0).flatten(1).sum(1), (out > 0).flatten(1).sum(1)
    kinds = {(int(a), int(b)) for a, b in zip(ink, ink_out)}
    assert kinds == {(48, 48), (48, 108), (48, 12)}  # 4x4 square (x3 channels): kept, 6x6, 2x2


def test_resolution_pools_whole_images_by_one_factor():
    x = squares(n=12)
    out = random_resolution(x, torch.Generator().manual_seed(0), factors=(1, 4))
    pooled = F.interpolate(F.avg_pool2d(x, 4), size=16, mode="bilinear", align_corners=False)
    kept = [torch.equal(o, a) for o, a in zip(out, x)]
    low = [torch.allclose(o, p) for o, p in zip(out, pooled)]
    assert all(k != lo for k, lo in zip(kept, low)) and any(kept) and any(low)


def test_cutout_blanks_one_square_per_image():
    x = torch.ones(5, 3, 16, 16)
    out = cutout(x, torch.Generator().manual_seed(1), fraction=0.25)
    holes = out[:, 0] == -1
    assert holes.flatten(1).sum(1).tolist() == [16] * 5
    for h in holes:
        rows, cols = h.any(1).nonzero().flatten(), h.any(0).nonzero().flatten()
        assert len(rows) == len(cols) == 4 and rows.diff().eq(1).all() and cols.diff().eq(1).all()


def _linear(k: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, k))


def test_self_training_reads_only_images_of_the_unlabelled_domain_and_is_seeded():
    """`unlabelled` is asked for images only, 2·batch per adaptation step; the same seed gives the same weights."""
    x, y = squares(n=8), torch.arange(8) % 2
    asked = []

    def labelled(n):
        return x[:n], y[:n]

    def unlabelled(n):
        asked.append(n)
        return -x[:n]

    def run():
        f = _linear()
        log = train_semantic_classifier(f, labelled, unlabelled, steps=3, adapt_steps=4, lr=1e-2,
                                        prior=torch.tensor([0.5, 0.5]), gen=torch.Generator().manual_seed(0),
                                        threshold=0.0, batch=4)
        return f, log

    (f1, log1), (f2, _) = run(), run()
    assert asked == [8] * 4 * 2
    assert all(torch.equal(p, q) for p, q in zip(f1.parameters(), f2.parameters()))
    assert log1.confident == 1.0 and log1.loss > 0  # threshold 0: every reading of B is a target


def test_self_training_follows_confident_readings_and_skips_unsure_ones():
    """On B images f is sure of, self-training pulls f further towards its own reading: after it f is surer of B than
    the same number of steps on A alone leave it. At threshold 1 no reading is confident enough: B adds nothing."""
    x, y = squares(n=8), torch.arange(8) % 2
    b = squares(n=8)[torch.randperm(8, generator=torch.Generator().manual_seed(0))] * 0.5

    def train(adapt_steps, threshold):
        f = _linear()
        log = train_semantic_classifier(f, lambda n: (x[:n], y[:n]), lambda n: b[:n], steps=50 - adapt_steps,
                                        adapt_steps=adapt_steps, lr=1e-2, prior=torch.tensor([0.5, 0.5]),
                                        gen=torch.Generator().manual_seed(0), threshold=threshold, batch=8,
                                        augment=False)
        with torch.no_grad():
            return f(b).softmax(1).max(1).values.mean(), log

    sure_source, _ = train(0, 0.6)
    sure_adapted, log = train(30, 0.6)
    assert 0 < log.confident <= 1 and log.loss > 0
    assert sure_adapted > sure_source
    _, none = train(5, 1.0)
    assert none.confident == 0.0 and none.loss == 0.0
