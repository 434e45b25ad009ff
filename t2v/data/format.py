"""The built-dataset format: one self-describing directory per dataset.

```
meta.json     format, version, kind, num_items, item_shape, fps, size, frames, splits, domains, labels, extra meta
items.jsonl   one line per item: index, id, split, captions, labels, domain
pixels.u8     raw uint8, item-major, C order: memory-mapped as [num_items, *item_shape]
report.json   inputs the builder skipped, by reason
previews/     mp4 + PNG strips (video) or a PNG grid (images), and captions.txt, for a person to look at
```
`DatasetWriter` writes into `<out>.tmp` and renames it to `<out>` on `close()`, so a crashed build never leaves a
half-written dataset behind; identical inputs give byte-identical files.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError

FORMAT = "t2v-dataset"
VERSION = 1
KINDS = ("video", "image", "unpaired", "labeled")
_REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_hint(out_dir: Path, builder: str | None) -> str:
    """How to (re)build a dataset at `out_dir`: the builder that made it, or the available builder scripts."""
    if builder:
        return f"rebuild it with `python datasets/{builder}.py --out {out_dir}`"
    scripts = sorted(p.name for p in _REPO_DATASETS.glob("*.py")) if _REPO_DATASETS.is_dir() else []
    listed = ", ".join(f"datasets/{s}" for s in scripts) or "a script in datasets/"
    return f"build one with `python <script> --out {out_dir}` using one of: {listed}"


class DatasetWriter:
    """Accumulate items (pixels + captions + labels) and write a built dataset atomically on `close()`."""

    def __init__(
        self,
        out_dir: str | Path,
        kind: str,
        item_shape: tuple[int, ...],
        fps: int = 8,
        labels: dict[str, list[str]] | None = None,
        meta: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        want_ndim = 4 if kind == "video" else 3
        if len(item_shape) != want_ndim or item_shape[-1] != 3:
            raise ValueError(f"item_shape for kind {kind!r} must be {'(T,H,W,3)' if want_ndim == 4 else '(H,W,3)'}")
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not overwrite:
            raise DatasetError(f"{self.out_dir} already exists; pass --overwrite to replace it or choose another --out")
        if self.out_dir.exists() and not (self.out_dir / "meta.json").is_file() and any(self.out_dir.iterdir()):
            raise DatasetError(f"{self.out_dir} is a non-empty directory that is not a built dataset; "
                               "refusing to overwrite it, choose another --out")
        self.kind, self.item_shape, self.fps = kind, tuple(int(s) for s in item_shape), fps
        self.labels = {name: list(vocab) for name, vocab in (labels or {}).items()}
        self._vocab_sets = {name: set(vocab) for name, vocab in self.labels.items()}
        self.extra_meta = dict(meta or {})
        self.items: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self._ids: set[str] = set()
        self.tmp_dir = self.out_dir.with_name(self.out_dir.name + ".tmp")
        if self.tmp_dir.exists():
            shutil.rmtree(self.tmp_dir)  # left over from a crashed build
        self.tmp_dir.mkdir(parents=True)
        self._pixels = open(self.tmp_dir / "pixels.u8", "wb")
        self._closed = False

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()

    def __len__(self) -> int:
        return len(self.items)

    def add(
        self,
        pixels: np.ndarray,
        captions: list[str],
        labels: dict[str, str] | None = None,
        split: str = "train",
        id: str | None = None,
        domain: str | None = None,
    ) -> int:
        """Append one item; returns its index."""
        if self._closed:
            raise RuntimeError("DatasetWriter is closed")
        if pixels.dtype != np.uint8 or tuple(pixels.shape) != self.item_shape:
            raise ValueError(f"pixels must be uint8 {self.item_shape}, got {pixels.dtype} {tuple(pixels.shape)}")
        labels = dict(labels or {})
        for name, value in labels.items():
            if value not in self._vocab_sets.get(name, ()):
                raise ValueError(f"label {name}={value!r} is not in the vocabulary given to DatasetWriter(labels=...)")
        if self.kind == "unpaired" and domain is None:
            raise ValueError("kind 'unpaired' needs a domain for every item")
        index = len(self.items)
        id = f"{index:07d}" if id is None else str(id)
        if id in self._ids:
            raise ValueError(f"duplicate item id {id!r}")
        self._ids.add(id)
        self._pixels.write(np.ascontiguousarray(pixels).tobytes())
        item: dict[str, Any] = {"index": index, "id": id, "split": split, "captions": [str(c) for c in captions],
                                "labels": labels}
        if domain is not None:
            item["domain"] = domain
        self.items.append(item)
        return index

    def skip(self, source: str, reason: str) -> None:
        """Record an input that was not used (reported in report.json and the summary)."""
        self.skipped.append({"source": str(source), "reason": reason})

    def abort(self) -> None:
        """Drop everything written so far; the output directory is left untouched."""
        if not self._pixels.closed:
            self._pixels.close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._closed = True

    def _meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "kind": self.kind, "num_items": len(self.items),
            "item_shape": list(self.item_shape), "fps": self.fps, "size": list(self.item_shape[-3:-1]),
        }
        if self.kind == "video":
            meta["frames"] = self.item_shape[0]
        meta["splits"] = dict(sorted(Counter(it["split"] for it in self.items).items()))
        domains = Counter(it["domain"] for it in self.items if "domain" in it)
        if domains:
            meta["domains"] = dict(sorted(domains.items()))
        meta["labels"] = self.labels
        meta.update(self.extra_meta)
        return meta

    def _write_previews(self, num_previews: int) -> None:
        if num_previews <= 0:
            return
        from .video import save_frame_strip, save_image_grid, write_video

        pixels = np.memmap(self.tmp_dir / "pixels.u8", np.uint8, "r", shape=(len(self.items), *self.item_shape))
        chosen = np.unique(np.linspace(0, len(self.items) - 1, min(num_previews, len(self.items))).round().astype(int))
        out = self.tmp_dir / "previews"
        out.mkdir()
        lines = []
        for i in chosen:
            item = self.items[i]
            tags = " ".join(f"{k}={v}" for k, v in [*item["labels"].items(), ("domain", item.get("domain"))] if v)
            lines.append(" ".join(filter(None, [f"{i:07d} [{item['split']}]", tags, " | ".join(json.dumps(c, ensure_ascii=False) for c in item["captions"])])))
            if self.kind == "video":
                write_video(out / f"{i:07d}.mp4", np.asarray(pixels[i]), self.fps)
                save_frame_strip(out / f"{i:07d}.png", np.asarray(pixels[i]))
        if self.kind != "video":
            save_image_grid(out / "grid.png", np.asarray(pixels[chosen]), nrow=8)
        (out / "captions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        del pixels

    def close(self, num_previews: int = 8) -> dict[str, Any]:
        """Write meta/items/report/previews and move the dataset into place; returns a summary dict."""
        if self._closed:
            raise RuntimeError("DatasetWriter is closed")
        self._pixels.close()
        reasons = dict(sorted(Counter(s["reason"] for s in self.skipped).items()))
        if not self.items:
            self.abort()
            detail = ", ".join(f"{n} {r}" for r, n in reasons.items()) or "no inputs found"
            raise DatasetError(f"no usable items for {self.out_dir} ({detail}); check the input paths and files")
        meta = self._meta()
        _dump(self.tmp_dir / "meta.json", meta)
        with open(self.tmp_dir / "items.jsonl", "w", encoding="utf-8") as f:
            for item in self.items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        report = {"num_items": len(self.items), "num_skipped": len(self.skipped), "skipped_by_reason": reasons,
                  "skipped": self.skipped}
        _dump(self.tmp_dir / "report.json", report)
        self._write_previews(num_previews)
        if self.out_dir.exists():  # overwrite=True: swap, then delete the old one
            old = self.out_dir.with_name(self.out_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            self.out_dir.rename(old)
            self.tmp_dir.rename(self.out_dir)
            shutil.rmtree(old)
        else:
            self.tmp_dir.rename(self.out_dir)
        self._closed = True
        return {"out_dir": str(self.out_dir), "num_items": len(self.items), "splits": meta["splits"],
                "domains": meta.get("domains", {}), "skipped": reasons}


class BuiltDataset:
    """Read-only view of a built dataset; `pixels` is a lazily opened memory map (safe to pickle to workers)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise DatasetError(f"no built dataset at {self.path} (meta.json missing); {_build_hint(self.path, None)}")
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(f"{meta_path} is not valid JSON ({e}); {_build_hint(self.path, None)}") from e
        hint = _build_hint(self.path, self.meta.get("builder") if isinstance(self.meta, dict) else None)
        if not isinstance(self.meta, dict) or self.meta.get("format") != FORMAT:
            raise DatasetError(f"{self.path} is not a t2v dataset (meta.json format != {FORMAT!r}); {hint}")
        if self.meta.get("version") != VERSION:
            raise DatasetError(f"{self.path} has dataset format version {self.meta.get('version')}, this t2v reads "
                               f"version {VERSION}; {hint}")
        self.item_shape = tuple(self.meta["item_shape"])
        self.num_items = int(self.meta["num_items"])
        try:
            with open(self.path / "items.jsonl", encoding="utf-8") as f:
                self.items: list[dict[str, Any]] = [json.loads(line) for line in f if line.strip()]
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(f"{self.path}/items.jsonl is missing or corrupt ({e}); {hint}") from e
        if len(self.items) != self.num_items:
            raise DatasetError(f"{self.path}/items.jsonl has {len(self.items)} items, meta.json says "
                               f"{self.num_items}; {hint}")
        pixels_path = self.path / "pixels.u8"
        expected = self.num_items * int(np.prod(self.item_shape))
        actual = pixels_path.stat().st_size if pixels_path.is_file() else -1
        if actual != expected:
            raise DatasetError(f"{pixels_path} has {max(actual, 0)} bytes, expected {expected} "
                               f"({'missing' if actual < 0 else 'truncated or corrupt'}); {hint}")
        self._pixels: np.memmap | None = None
        names = self.label_names
        vocab_index = [{v: j for j, v in enumerate(self.label_vocab(n))} for n in names]
        self._label_ids = np.array(
            [[vocab_index[k].get(it["labels"].get(n), -1) for k, n in enumerate(names)] for it in self.items],
            dtype=np.int64,
        ).reshape(self.num_items, len(names))

    def __len__(self) -> int:
        return self.num_items

    def __repr__(self) -> str:
        return f"BuiltDataset({str(self.path)!r}, kind={self.kind!r}, items={self.num_items}, shape={self.item_shape})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pixels": None}  # re-open the memory map in the receiving process

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def pixels(self) -> np.memmap:
        """uint8 [N, *item_shape], memory-mapped read-only."""
        if self._pixels is None:
            self._pixels = np.memmap(self.path / "pixels.u8", np.uint8, "r", shape=(self.num_items, *self.item_shape))
        return self._pixels

    @property
    def label_names(self) -> list[str]:
        return list(self.meta.get("labels", {}))

    def label_vocab(self, name: str) -> list[str]:
        return list(self.meta["labels"][name])

    def label_ids(self, i: int) -> np.ndarray:
        """int64 [n_labels] in `label_names` order; -1 where the item has no value for a label."""
        return self._label_ids[i]

    @property
    def all_label_ids(self) -> np.ndarray:
        """int64 [N, n_labels] for every item."""
        return self._label_ids

    def indices(self, split: str | None = None, domain: str | None = None) -> np.ndarray:
        """Item indices (int64, ascending) in `split` and `domain` (None = any)."""
        return np.array([it["index"] for it in self.items
                         if (split is None or it["split"] == split) and (domain is None or it.get("domain") == domain)],
                        dtype=np.int64)
