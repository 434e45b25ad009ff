"""Domains inside a built dataset: unpaired two-domain training items (CycleGAN, ADDA) and one-domain views.

A domain is named by a selector: `domain=NAME` picks items whose `domain` field is NAME (unpaired / labeled
datasets), `LABEL=VALUE` picks items with that label value (e.g. `place=grass` in Scene-Actions). Items of a video
dataset are used frame by frame: each frame of a selected clip is one image of the domain.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch.utils.data import Dataset

from ..errors import DatasetError
from .format import BuiltDataset
from .loader import normalize_pixels
from .procedural.draw import Canvas, rotate


def parse_selector(ds: BuiltDataset, selector: str) -> tuple[str, str]:
    """`"place=grass"` -> ("place", "grass"), checked against the dataset's domains and label vocabularies."""
    key, sep, value = selector.partition("=")
    key, value = key.strip(), value.strip()
    domains = sorted(ds.meta.get("domains", {}))
    if not sep or not key or not value:
        raise DatasetError(f"domain selector {selector!r} must look like domain=NAME or LABEL=VALUE")
    if key == "domain":
        if value not in domains:
            raise DatasetError(f"{ds.path} has no domain {value!r}; its domains are {domains}")
    elif key not in ds.label_names:
        raise DatasetError(f"selector {selector!r}: {ds.path} has no label {key!r}; its labels are {ds.label_names}"
                           + (f" and domains {domains} (domain=NAME)" if domains else ""))
    elif value not in ds.label_vocab(key):
        raise DatasetError(f"selector {selector!r}: label {key!r} has values {ds.label_vocab(key)}")
    return key, value


def select_items(ds: BuiltDataset, selector: str, split: str | None = None) -> np.ndarray:
    """Indices (ascending int64) of the items of `split` (None = all) that `selector` picks."""
    key, value = parse_selector(ds, selector)
    if key == "domain":
        return ds.indices(split=split, domain=value)
    return np.array([it["index"] for it in ds.items if (split is None or it["split"] == split)
                     and it["labels"].get(key) == value], dtype=np.int64)


class _Rows:
    """`view.pixels[i]` -> `base.pixels[idx[i]]`, without reading the whole selection."""

    def __init__(self, base: BuiltDataset, idx: np.ndarray):
        self.base, self.idx = base, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> np.ndarray:
        return self.base.pixels[self.idx[i]]


class DomainView:
    """The items of one domain of a built dataset, read like a BuiltDataset (meta, items, pixels, labels, indices).

    Used to train a judge on one domain only, e.g. a handwritten-digit classifier:
    `train_classifier(DomainView(BuiltDataset("data/digits_unpaired"), "domain=B"), out_dir)`.
    """

    def __init__(self, ds: BuiltDataset, selector: str):
        self.base, self.selector = ds, selector
        self.idx = select_items(ds, selector)
        if len(self.idx) == 0:
            raise DatasetError(f"{ds.path} has no items for {selector!r}")
        self.path = Path(f"{ds.path}[{selector}]")
        self.items = [{**ds.items[int(i)], "index": k} for k, i in enumerate(self.idx)]
        splits: dict[str, int] = {}
        for it in self.items:
            splits[it["split"]] = splits.get(it["split"], 0) + 1
        self.meta = {**ds.meta, "num_items": len(self.idx), "splits": splits, "selector": selector}
        self.meta.pop("domains", None)
        self.item_shape, self.num_items, self.kind = ds.item_shape, len(self.idx), ds.kind
        self.label_names, self.label_vocab = ds.label_names, ds.label_vocab
        self.all_label_ids = ds.all_label_ids[self.idx]
        self.pixels = _Rows(ds, self.idx)

    def __len__(self) -> int:
        return self.num_items

    def label_ids(self, i: int) -> np.ndarray:
        return self.all_label_ids[i]

    def indices(self, split: str | None = None, domain: str | None = None) -> np.ndarray:
        return np.array([it["index"] for it in self.items if (split is None or it["split"] == split)
                         and (domain is None or it.get("domain") == domain)], dtype=np.int64)


class _DomainImages:
    """The images of one selection: (item, frame) pairs for video datasets, items for image datasets."""

    def __init__(self, ds: BuiltDataset, selector: str, split: str | None):
        self.ds = ds
        self.items = select_items(ds, selector, split)
        if len(self.items) == 0:
            raise DatasetError(f"{ds.path} has no items for {selector!r} in split {split!r}; its splits are "
                               f"{sorted(ds.meta.get('splits', {}))}")
        self.frames = int(ds.item_shape[0]) if ds.kind == "video" else 1

    def __len__(self) -> int:
        return len(self.items) * self.frames

    def item(self, pos: int) -> int:
        return int(self.items[pos // self.frames])

    def uint8(self, pos: int) -> np.ndarray:
        """[H, W, 3] uint8 image number `pos`."""
        item, frame = divmod(pos, self.frames)
        px = self.ds.pixels[self.items[item]]
        return np.asarray(px[frame] if self.ds.kind == "video" else px)


def paint_distractors(images: list[np.ndarray], rng: np.random.Generator, prob: float,
                      max_count: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Flat convex shapes pasted onto training images, each image with probability `prob` (1 to `max_count` shapes).

    A shape is a polygon of 3-8 corners on a random ellipse whose longer radius is 5-18% of the image side, in one
    flat colour. The colour is a pixel of any of `images` (chosen uniformly; slightly jittered) or, one time in four,
    uniform in RGB: both domains of an unpaired item get colours from both, so a shape's colour is no cue to its
    domain, and a shape may wear the colour of the ground it lies on. Returns the painted uint8 [H, W, 3] images and
    each one's coverage, float32 [H, W] in [0, 1] (0 where nothing was pasted).
    """
    out, cover = [], []
    for img in images:
        h, w = img.shape[:2]
        if rng.random() >= prob:
            out.append(img)
            cover.append(np.zeros((h, w), np.float32))
            continue
        canvas = Canvas(img[None].astype(np.float32) / 255.0)
        shapes = Canvas.blank(1, h, w)
        for _ in range(int(rng.integers(1, max_count + 1))):
            if rng.random() < 0.25:
                color = rng.random(3)
            else:
                src = images[int(rng.integers(len(images)))]
                color = src[rng.integers(src.shape[0]), rng.integers(src.shape[1])] / 255.0
                color = np.clip(color + rng.normal(0.0, 0.03, 3), 0.0, 1.0)
            r = rng.uniform(0.05, 0.18) * min(h, w)
            radii = np.array([r, r * rng.uniform(0.4, 1.0)])
            corners = np.sort(rng.uniform(0.0, 2 * np.pi, int(rng.integers(3, 9))))
            turn = rng.uniform(0.0, np.pi)
            pts = np.stack([np.cos(corners), np.sin(corners)], -1) * radii
            verts = rotate(pts, turn)[0] + rng.uniform(0.0, 1.0, 2) * (w, h)
            canvas.polygon(verts, color)
            shapes.polygon(verts, (1.0, 1.0, 1.0))
        out.append(canvas.to_uint8()[0])
        cover.append(shapes.frames[0, ..., 0].copy())
    return out, cover


class UnpairedDataset(Dataset):
    """Unpaired training items from two domains, as CycleGAN's unaligned loader: item i holds image i of A and a
    uniformly random image of B.

    Item: {"A": float32 [3, H, W] in [-1, 1], "B": same, "label_A" / "label_B": int64 [n_labels] (-1 = none)}, and
    with distractors "keep_A" / "keep_B": float32 [1, H, W], where the pasted shapes cover the image.
    Training augmentation as the reference: resize to `load_size` (bicubic), random `crop_size` crop, random flip;
    with `distractors` > 0, first `paint_distractors` (flat shapes in colours of either domain; not in the reference).
    The random choices of item i come from a generator seeded by (seed, epoch, i): an item does not depend on which
    process fetches it or when (accelerate's loader fetches one batch ahead, so draws from the global generator
    would make a resumed run diverge). The trainer's `loader.set_epoch` reaches `set_epoch` here through accelerate.
    """

    def __init__(self, ds: BuiltDataset, domain_a: str, domain_b: str, split: str | None = "train",
                 load_size: int = 0, crop_size: int = 0, flip: bool = False, seed: int = 0,
                 distractors: float = 0.0, distractor_count: int = 3):
        if ds.kind not in ("video", "image", "unpaired", "labeled"):
            raise DatasetError(f"{ds.path} is a {ds.kind!r} dataset; unpaired training needs images or clips")
        self.ds = ds
        self.a = _DomainImages(ds, domain_a, split)
        self.b = _DomainImages(ds, domain_b, split)
        self.load_size, self.crop_size, self.flip, self.seed, self.epoch = load_size, crop_size, flip, seed, 0
        self.distractors, self.distractor_count = distractors, distractor_count
        h, w = ds.item_shape[-3:-1]
        if crop_size > (load_size or min(h, w)):
            raise DatasetError(f"crop_size {crop_size} is larger than the {load_size or f'{h}x{w}'} training images "
                               f"of {ds.path}; lower crop_size or raise load_size")

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def image(self, images: _DomainImages, pos: int, rng: np.random.Generator, pixels: np.ndarray | None = None,
              cover: np.ndarray | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Image `pos` of a domain (or its `pixels`, uint8 [H, W, 3], when given) as float32 [3, H, W] in [-1, 1],
        augmented with `rng`'s draws. With `cover` (float32 [H, W]) also that map, [1, H, W], resized, cropped and
        flipped with the image."""
        px = images.uint8(pos) if pixels is None else pixels
        x = normalize_pixels(rearrange(torch.from_numpy(px.copy()), "h w c -> c h w"))
        if cover is not None:
            x = torch.cat([x, torch.from_numpy(cover)[None]])
        if self.load_size and tuple(x.shape[1:]) != (self.load_size, self.load_size):
            x = F.interpolate(x[None], size=(self.load_size, self.load_size), mode="bicubic", align_corners=False)[0]
            x = x.clamp_(-1, 1) if cover is None else torch.cat([x[:3].clamp_(-1, 1), x[3:].clamp_(0, 1)])
        if self.crop_size:
            h, w = x.shape[1:]
            top, left = rng.integers(h - self.crop_size + 1), rng.integers(w - self.crop_size + 1)
            x = x[:, top : top + self.crop_size, left : left + self.crop_size]
        if self.flip and rng.random() < 0.5:
            x = x.flip(-1)
        return x.contiguous() if cover is None else (x[:3].contiguous(), x[3:].contiguous())

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        pa, pb = i % len(self.a), int(rng.integers(len(self.b)))
        ids = self.ds.all_label_ids
        labels = {"label_A": torch.from_numpy(ids[self.a.item(pa)].copy()),
                  "label_B": torch.from_numpy(ids[self.b.item(pb)].copy())}
        if self.distractors > 0:
            (px_a, px_b), (cover_a, cover_b) = paint_distractors([self.a.uint8(pa), self.b.uint8(pb)], rng,
                                                                 self.distractors, self.distractor_count)
            a, keep_a = self.image(self.a, pa, rng, px_a, cover_a)
            b, keep_b = self.image(self.b, pb, rng, px_b, cover_b)
            return {"A": a, "B": b, "keep_A": keep_a, "keep_B": keep_b, **labels}
        return {"A": self.image(self.a, pa, rng), "B": self.image(self.b, pb, rng), **labels}
