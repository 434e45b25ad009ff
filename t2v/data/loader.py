"""Training loader over a built dataset: memory-mapped uint8 pixels, no decoding in the training loop.

Three ways to use it, fastest last (numbers: benchmarks/loader_throughput.py):
- per item: `DataLoader(CaptionedDataset(...), batch_size=B)` with torch's default collate;
- batched: DataLoader calls `__getitems__` with a batch of indices, which gathers the batch in one memmap read
  and converts it in one pass; `collate` (used by `make_loader`) passes that batch through without a copy
  (with default collate it still works: the per-item views are stacked again);
- uint8: `CaptionedDataset(..., uint8=True)` ships uint8 pixels (4x fewer bytes between processes) and the
  training step calls `normalize_pixels(batch["pixels"].to(device))`;
- deferred (what the trainer uses): `CaptionedDataset(..., defer_pixels=True)` — workers draw captions, mismatches
  and labels and send the batch's memmap rows ("pixel_rows"); the consuming process reads the pixels with
  `dataset.load_pixels(batch, device)`, one gather from the page cache, converted on `device`. Moving a batch
  between processes costs a fresh shared-memory segment and its page faults (~6-10 ms for 32 16x64x64 uint8
  clips, 4x that as float32), the gather ~0.3 ms.
All work under `accelerator.prepare(DataLoader(...))`: the dataset is a plain map-style Dataset.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import DataLoader, Dataset, default_collate, get_worker_info

from ..errors import ConfigError, DatasetError
from .format import BuiltDataset


def normalize_pixels(pixels: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 in [0, 255] -> contiguous float32 in [-1, 1] (same shape and device)."""
    if out is None:
        out = torch.empty(pixels.shape, dtype=torch.float32, device=pixels.device)
    return out.copy_(pixels).mul_(2 / 255).sub_(1)


def _empty_float(shape: tuple[int, ...], shared: bool) -> torch.Tensor:
    """float32 buffer; with `shared` inside a DataLoader worker it lives in shared memory (no copy on send)."""
    if not shared or get_worker_info() is None:
        return torch.empty(shape, dtype=torch.float32)
    numel = int(np.prod(shape))
    storage = torch.UntypedStorage._new_shared(numel * 4)  # as torch's default_collate does in workers
    return torch.empty(0, dtype=torch.float32).set_(storage).view(shape)


class _Batch(list):
    """The per-item dicts of a batch (so default collate works) plus the already stacked batch for `collate`."""

    def __init__(self, items: list[dict[str, Any]], batch: dict[str, Any]) -> None:
        super().__init__(items)
        self.batch = batch


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate for CaptionedDataset: a batch gathered by `__getitems__` passes through; else default collate."""
    return samples.batch if isinstance(samples, _Batch) else default_collate(samples)


class CaptionedDataset(Dataset):
    """Items of one split (and domain) of a built dataset: pixels in [-1, 1] plus caption and labels.

    Item: {"pixels": float32 [C,T,H,W] (video) or [C,H,W] (image), "caption": str (a random one of the
    item's captions, "" if it has none), "labels": int64 [n_labels] (-1 = missing), "index": int, and with
    `mismatched=True` "mismatched_caption": a caption of another item of the split whose labels differ (whose
    captions differ, for datasets without labels), never one of the item's own captions (items that differ only in
    a label their captions do not state share caption texts)}. With `hard_negatives=p` (needs labels) a share p of
    the mismatched captions comes from items that differ in exactly one label (same place, other action), so that
    a matching-aware discriminator cannot reject wrong captions by their most visible attribute alone.
    With `uint8=True`, "pixels" is the raw uint8 in the same layout (a channels-first view); convert it with
    `normalize_pixels`. With `defer_pixels=True` an item carries "pixel_rows" (its memmap row) instead of
    "pixels"; `load_pixels(batch)` puts the pixels in.
    Random choices come from a per-process generator seeded by (`seed`, the torch seed of the process or
    DataLoader worker), so they are reproducible under `torch.manual_seed` and differ between workers and epochs.
    """

    def __init__(
        self,
        ds_or_dir: BuiltDataset | str | Path,
        split: str | None = "train",
        domain: str | None = None,
        mismatched: bool = False,
        seed: int = 0,
        uint8: bool = False,
        defer_pixels: bool = False,
        hard_negatives: float = 0.0,
    ) -> None:
        self.ds = ds_or_dir if isinstance(ds_or_dir, BuiltDataset) else BuiltDataset(ds_or_dir)
        self.split, self.domain, self.mismatched, self.seed, self.uint8 = split, domain, mismatched, seed, uint8
        self.defer_pixels = defer_pixels
        if not 0.0 <= hard_negatives <= 1.0:
            raise ConfigError(f"hard_negatives is a share of the mismatched captions in [0, 1], got {hard_negatives}")
        if hard_negatives and not mismatched:
            raise ConfigError("hard_negatives needs mismatched captions (GAN-CLS)")
        self.hard_negatives = hard_negatives
        self.idx = self.ds.indices(split, domain)
        if len(self.idx) == 0:
            raise DatasetError(
                f"{self.ds.path} has no items in split={split!r} domain={domain!r}; it has splits "
                f"{sorted(self.ds.meta.get('splits', {}))} and domains {sorted(self.ds.meta.get('domains', {}))}"
            )
        self.video = self.ds.kind == "video"
        self.captions = [self.ds.items[i]["captions"] for i in self.idx]
        self.num_captions = np.array([len(c) for c in self.captions], dtype=np.int64)
        self.labels = torch.from_numpy(np.ascontiguousarray(self.ds.all_label_ids[self.idx]))
        if mismatched:
            self._init_mismatch_groups()
        self._rng: np.random.Generator | None = None
        self._rng_pid = -1

    def _init_mismatch_groups(self) -> None:
        """Group positions by label combination (by caption list when the dataset has no labels).

        Captioned positions are stored sorted by group, so "a uniformly random captioned item outside my
        group" is a single draw, whatever the group sizes.
        """
        if not self.num_captions.any():
            raise DatasetError(f"{self.ds.path} has no captions; mismatched captions need a captioned dataset "
                               "(set data.mismatched=false)")
        keys = [tuple(r) for r in self.labels.tolist()] if self.ds.label_names else [tuple(c) for c in self.captions]
        ids: dict[tuple, int] = {}
        self.group = np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)
        order = np.argsort(self.group, kind="stable")
        self.group_order = order[self.num_captions[order] > 0]
        sorted_groups = self.group[self.group_order]
        all_groups = np.arange(len(ids))
        self.group_start = np.searchsorted(sorted_groups, all_groups, side="left")
        self.group_size = np.searchsorted(sorted_groups, all_groups, side="right") - self.group_start
        if (len(self.group_order) - self.group_size[self.group]).min() == 0:
            raise DatasetError(f"{self.ds.path} split {self.split!r}: the captioned items all have the same labels, "
                               "so there is no mismatched caption to draw; set data.mismatched=false")
        self.own_captions = [frozenset(c) for c in self.captions]
        if self.hard_negatives:
            if not self.ds.label_names:
                raise DatasetError(f"{self.ds.path} has no labels, so no caption differs in exactly one of them; "
                                   "hard negatives need a labelled dataset")
            combos = np.array(list(ids), dtype=np.int64)  # [groups, labels], row g = label ids of group g
            differ = np.zeros((len(combos), len(combos)), np.int16)  # label by label: no [groups, groups, labels]
            for j in range(combos.shape[1]):
                differ += combos[:, None, j] != combos[None, :, j]
            one_off = (differ == 1) & (self.group_size > 0)[None, :]
            self.near_count = one_off.sum(1)
            self.near_start = np.concatenate([[0], np.cumsum(self.near_count)[:-1]])
            self.near_flat = np.nonzero(one_off)[1]  # row-major: the neighbours of group 0, then of group 1, ...

    def __len__(self) -> int:
        return len(self.idx)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rng": None, "_rng_pid": -1}

    @property
    def rng(self) -> np.random.Generator:
        """Generator of this process (re-created in every DataLoader worker)."""
        if self._rng is None or self._rng_pid != os.getpid():
            info = get_worker_info()
            stream = info.seed if info is not None else torch.initial_seed()
            self._rng = np.random.default_rng([self.seed, stream % 2**63])
            self._rng_pid = os.getpid()
        return self._rng

    def _pick_captions(self, pos: np.ndarray) -> list[str]:
        n = self.num_captions[pos]
        choice = (self.rng.random(len(pos)) * np.maximum(n, 1)).astype(np.int64)
        return [self.captions[p][c] if k else "" for p, c, k in zip(pos.tolist(), choice.tolist(), n.tolist())]

    def _mismatched_positions(self, pos: np.ndarray) -> np.ndarray:
        start, size = self.group_start[self.group[pos]], self.group_size[self.group[pos]]
        r = (self.rng.random(len(pos)) * (len(self.group_order) - size)).astype(np.int64)
        out = self.group_order[np.where(r < start, r, r + size)]
        if self.hard_negatives:
            g = self.group[pos]
            u, v, w = self.rng.random((3, len(pos)))
            count = self.near_count[g]
            hard = (u < self.hard_negatives) & (count > 0)
            if hard.any():  # a uniform neighbour group (one label off), then a uniform captioned item of it
                g, v, w, count = g[hard], v[hard], w[hard], count[hard]
                near = self.near_flat[self.near_start[g] + (v * count).astype(np.int64)]
                out[hard] = self.group_order[self.group_start[near] + (w * self.group_size[near]).astype(np.int64)]
        return out

    def _mismatched_captions(self, pos: np.ndarray) -> list[str]:
        """A wrong caption per position; redrawn (a few times) where it is one of the item's own captions."""
        wrong = self._pick_captions(self._mismatched_positions(pos))
        for _ in range(8):
            clash = [i for i, (p, c) in enumerate(zip(pos.tolist(), wrong)) if c in self.own_captions[p]]
            if not clash:
                break
            redo = self._pick_captions(self._mismatched_positions(pos[clash]))
            for i, c in zip(clash, redo):
                wrong[i] = c
        return wrong

    def _gather(self, rows: np.ndarray) -> torch.Tensor:
        """uint8 [B, C, (T,) H, W] (a channels-first view) of memmap `rows`: one gather."""
        u8 = torch.from_numpy(self.ds.pixels[rows])
        return rearrange(u8, "b t h w c -> b c t h w") if self.video else rearrange(u8, "b h w c -> b c h w")

    def _pixels(self, pos: np.ndarray, shared: bool) -> torch.Tensor:
        """[B, C, (T,) H, W] for dataset positions `pos`: one gather from the memmap, one conversion pass."""
        u8 = self._gather(self.idx[pos])
        return u8 if self.uint8 else normalize_pixels(u8, _empty_float(tuple(u8.shape), shared))

    def load_pixels(self, batch: dict[str, Any], device: torch.device | str | None = None) -> dict[str, Any]:
        """A deferred batch (or item) with "pixel_rows" -> the same with "pixels" ([-1, 1] float32, or uint8 with
        `uint8=True`) on `device` (default: CPU). Batches that already hold pixels are returned unchanged."""
        if "pixel_rows" not in batch:
            return batch
        out = {k: v for k, v in batch.items() if k != "pixel_rows"}
        rows = batch["pixel_rows"].cpu()
        u8 = self._gather(rows.reshape(-1).numpy())
        u8 = u8.reshape(*rows.shape, *u8.shape[1:])
        if device is not None and torch.device(device).type != "cpu":
            u8 = u8.to(device, non_blocking=True)  # 4x fewer bytes to copy than float; converted on the device
        out["pixels"] = u8 if self.uint8 else normalize_pixels(u8)
        return out

    def _batch(self, pos: np.ndarray, shared: bool = False) -> dict[str, Any]:
        pixels = {"pixel_rows": torch.from_numpy(self.idx[pos])} if self.defer_pixels else {
            "pixels": self._pixels(pos, shared)}
        batch: dict[str, Any] = {
            **pixels,
            "caption": self._pick_captions(pos),
            "labels": self.labels[torch.from_numpy(pos)],
            "index": torch.from_numpy(self.idx[pos]),
        }
        if self.mismatched:
            batch["mismatched_caption"] = self._mismatched_captions(pos)
        return batch

    def __getitem__(self, k: int) -> dict[str, Any]:
        item = {key: v[0] for key, v in self._batch(np.array([k], dtype=np.int64)).items()}
        item["index"] = int(self.idx[k])
        return item

    def __getitems__(self, ks: list[int]) -> _Batch:
        batch = self._batch(np.asarray(ks, dtype=np.int64), shared=True)
        items = [{key: v[i] for key, v in batch.items()} for i in range(len(ks))]
        for item, index in zip(items, batch["index"].tolist()):
            item["index"] = index
        return _Batch(items, batch)


def make_loader(
    dataset: CaptionedDataset,
    batch_size: int,
    shuffle: bool = True,
    num_workers: int = 0,
    drop_last: bool = True,
    seed: int = 0,
    **kwargs: Any,
) -> DataLoader:
    """DataLoader over the batched path (`__getitems__` + `collate`), with seeded shuffling."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, drop_last=drop_last,
                      collate_fn=collate, generator=torch.Generator().manual_seed(seed),
                      persistent_workers=num_workers > 0, **kwargs)
