"""Train an attribute classifier on the real clips of a built dataset.

The classifier is a judge, not a generator, so it may see real clips of every split: a seeded `holdback` fraction of
each split (train, val, heldout, ...) is kept out of training and the reported accuracies are measured on those
held-back clips only. Light augmentation (one shift per clip, brightness/contrast, sometimes blur or noise) keeps the
judge fair to slightly blurry generated clips; there are no flips, since direction can be a label.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DatasetError
from .classifier import AttributeClassifier, ClassifierConfig
from .metrics import classify_items, object_slots, open_dataset, score


def holdback_split(ds: Any, fraction: float, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Training indices (all splits minus a seeded `fraction` of each) and the held-back indices per split."""
    rng = np.random.default_rng(seed)
    train, held = [], {}
    for split in ds.meta.get("splits", {}):
        idx = rng.permutation(ds.indices(split=split))
        n = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if fraction > 0 and len(idx) > 1 else 0
        held[split] = np.sort(idx[:n])
        train.append(idx[n:])
    train_idx = np.sort(np.concatenate(train)) if train else np.zeros(0, np.int64)
    return train_idx, held


def shift_clips(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Translate each uint8 clip [B, (T,) H, W, 3] by up to H/16 pixels (same shift in every frame), edges repeated."""
    h, w = pixels.shape[-3:-1]
    m = max(1, min(h, w) // 16)
    pad = [(0, 0)] * (pixels.ndim - 3) + [(m, m), (m, m), (0, 0)]
    padded = np.pad(pixels, pad, mode="edge")
    dy, dx = rng.integers(0, 2 * m + 1, (2, len(pixels)))
    return np.stack([padded[i, ..., y : y + h, x : x + w, :] for i, (y, x) in enumerate(zip(dy, dx))])


def jitter(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Photometric jitter of a batch in [-1, 1] ([B, C, T, H, W] or [B, C, H, W]): brightness/contrast on every clip,
    a 3x3 blur on ~30% and Gaussian noise on ~30% of them."""
    b = x.shape[0]
    shape = (b, *[1] * (x.dim() - 1))
    contrast = torch.empty(b).uniform_(0.85, 1.15, generator=gen).view(shape).to(x.device)
    brightness = torch.empty(b).uniform_(-0.1, 0.1, generator=gen).view(shape).to(x.device)
    x = x * contrast + brightness
    blur = (torch.rand(b, generator=gen) < 0.3).to(x.device)
    if blur.any():
        pool = F.avg_pool3d if x.dim() == 5 else F.avg_pool2d
        kernel = (1, 3, 3) if x.dim() == 5 else (3, 3)
        pad = (1, 1, 1, 1, 0, 0) if x.dim() == 5 else (1, 1, 1, 1)
        x[blur] = pool(F.pad(x[blur], pad, mode="replicate"), kernel, 1)
    noisy = (torch.rand(b, generator=gen) < 0.3).to(x.device)
    if noisy.any():
        sel = x[noisy]
        sigma = torch.empty(len(sel)).uniform_(0.0, 0.06, generator=gen).view(-1, *shape[1:]).to(x.device)
        x[noisy] = sel + torch.randn(sel.shape, generator=gen).to(x.device) * sigma
    return x.clamp(-1, 1)


def label_loss(logits: dict[str, torch.Tensor], y: torch.Tensor, names: list[str],
               slots: list[list[str]]) -> torch.Tensor:
    """Cross-entropy summed over labels (targets -1 ignored), averaged over the batch; exchangeable objects
    (see `object_slots`) are matched to the heads in the order that costs least, per sample."""
    col = {n: j for j, n in enumerate(names)}

    def ce(head: str, target: str) -> torch.Tensor:
        return F.cross_entropy(logits[head], y[:, col[target]], ignore_index=-1, reduction="none")

    in_slots = {n for slot in slots for n in slot}
    total = torch.zeros(len(y), device=y.device)
    for n in names:
        if n not in in_slots:
            total = total + ce(n, n)
    if slots:
        pair = [[sum(ce(h, t) for h, t in zip(head, target)) for target in slots] for head in slots]
        orders = itertools.permutations(range(len(slots)))
        total = total + torch.stack([sum(pair[p[i]][i] for i in range(len(slots))) for p in orders]).amin(0)
    return total.mean()


def evaluate_heldback(model: AttributeClassifier, ds: Any, held: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per-label accuracy (plus 'all') on the held-back clips of each split."""
    slots = object_slots(model.config.labels)
    out = {}
    for split, idx in held.items():
        if len(idx):
            targets = {n: ds.all_label_ids[idx, j] for j, n in enumerate(ds.label_names)}
            out[split] = score(classify_items(model, ds, idx), targets, slots)
    return out


def train_classifier(
    dataset: Any,
    out_dir: str | Path,
    steps: int = 600,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    device: str = "cpu",
    holdback: float = 0.2,
    width: int = 16,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, save (config.json + model.safetensors + metrics.json in `out_dir`) and return the metrics."""
    from tqdm.auto import tqdm

    ds = open_dataset(dataset)
    vocab = {name: list(ds.label_vocab(name)) for name in ds.label_names}
    if not vocab:
        raise DatasetError(f"dataset {ds.path} has no labels in meta.json; the classifier needs labelled clips")
    shape = list(ds.meta["item_shape"])
    video = len(shape) == 4
    cfg = ClassifierConfig(
        kind="video" if video else "image", frames=shape[0] if video else 1, size=shape[-3:-1], labels=vocab, width=width
    )
    train_idx, held = holdback_split(ds, holdback, seed)
    if len(train_idx) == 0:
        raise DatasetError("dataset has no items to train the classifier on")
    labels = ds.all_label_ids
    slots = object_slots(vocab)

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    model = AttributeClassifier(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1)))
    )
    start = time.time()
    bar = tqdm(range(steps), desc="classifier", disable=not progress)
    for _ in bar:
        idx = np.sort(rng.choice(train_idx, batch_size, replace=len(train_idx) < batch_size))
        x = jitter(model.prepare(shift_clips(ds.pixels[idx], rng)), gen)
        y = torch.from_numpy(labels[idx]).to(device)
        loss = label_loss(model(x), y, model.label_names, slots)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.time() - start
    model.eval()
    out = Path(out_dir)
    model.save_pretrained(out)
    metrics = {
        "dataset": str(ds.path),
        "kind": cfg.kind,
        "labels": ds.label_names,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "holdback": holdback,
        "train_items": int(len(train_idx)),
        "heldback_items": {split: int(len(i)) for split, i in held.items()},
        "train_seconds": round(seconds, 1),
        "accuracy": evaluate_heldback(model, ds, held),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
