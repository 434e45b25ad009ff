"""Shared plumbing of the real-data builders: input tables, splits, ordered (parallel) decoding, summary."""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from ...errors import ConfigError
from ..format import DatasetWriter
from ..procedural.builder import describe
from ..video import ImageReadError, read_image

SPLIT_DIR_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "validate": "val",
                   "test": "test"}

Job = TypeVar("Job")


def common_args(p: argparse.ArgumentParser, size: int = 64) -> None:
    """Arguments every real-data builder takes."""
    p.add_argument("--out", required=True, help="output directory of the built dataset")
    p.add_argument("--size", type=int, default=size, help=f"output height and width (default: {size}); "
                   "inputs are resized so the short side fits, then center-cropped")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of items put in 'val' by a hash of their id, when the input gives no split "
                        "(default: 0.05)")
    p.add_argument("--seed", type=int, default=0, help="random seed (used by --clip-start random; default: 0)")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (default: 0 = this process)")
    p.add_argument("--previews", type=int, default=8, help="number of preview items written (0 = none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_args(a: argparse.Namespace) -> None:
    if a.size < 2:
        raise ConfigError(f"--size must be at least 2, got {a.size}")
    if not 0 <= a.val_fraction < 1:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {a.val_fraction}")
    if a.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {a.workers}")


def existing_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{what} {path} is not a directory; check the path")
    return path


def existing_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist; check the path")
    return path


def hash_split(item_id: str, val_fraction: float) -> str:
    """'val' for a stable pseudo-random `val_fraction` of ids, else 'train' (independent of order and seed)."""
    h = int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big") / 2**64
    return "val" if h < val_fraction else "train"


def split_subdirs(root: Path) -> dict[str, Path] | None:
    """{split: dir} when every sub-folder of `root` is a split name (train/val/test...), else None."""
    dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if not dirs or any(d.name.lower() not in SPLIT_DIR_NAMES for d in dirs):
        return None
    return {SPLIT_DIR_NAMES[d.name.lower()]: d for d in dirs}


def clean_caption(text: Any) -> str:
    """Collapse whitespace; non-strings (None, numbers) become ''."""
    return re.sub(r"\s+", " ", text).strip() if isinstance(text, str) else ""


def read_table(path: Path, required: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Rows of a CSV (with header), JSONL or JSON-list file as (source 'file:line', row).

    Every row must have each `required` field ("a|b": either a or b).
    """
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
        if suffix == ".csv":
            rows = [(f"{path.name}:{i + 2}", dict(r)) for i, r in enumerate(csv.DictReader(text.splitlines()))]
        elif suffix == ".jsonl":
            rows = [(f"{path.name}:{i + 1}", json.loads(line)) for i, line in enumerate(text.splitlines())
                    if line.strip()]
        elif suffix == ".json":
            rows = [(f"{path.name}[{i}]", r) for i, r in enumerate(json.loads(text))]
        else:
            raise ConfigError(f"{path}: captions must be a .csv, .jsonl or .json file")
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error, TypeError) as e:
        raise ConfigError(f"cannot parse {path}: {e}; fix the file (one object per line for .jsonl)") from e
    def complete(row: Any) -> bool:
        return isinstance(row, dict) and all(any(k in row for k in alt.split("|")) for alt in required)

    bad = next(((src, r) for src, r in rows if not complete(r)), None)
    if bad is not None:
        found = ", ".join(bad[1]) if isinstance(bad[1], dict) else type(bad[1]).__name__
        raise ConfigError(f"{bad[0]}: need the fields {', '.join(required)}; found {found or 'none'}")
    return rows


def ordered_map(fn: Callable[[Job], Any], jobs: list[Job], workers: int, desc: str, quiet: bool) -> Iterator[Any]:
    """`fn` over `jobs` in order (deterministic output), in `workers` processes if > 0, with a progress bar."""
    from tqdm.auto import tqdm

    with tqdm(total=len(jobs), desc=desc, unit="item", disable=quiet, dynamic_ncols=True) as bar:
        if workers == 0:
            for r in map(fn, jobs):
                bar.update()
                yield r
            return
        with get_context("fork").Pool(workers) as pool:
            for r in pool.imap(fn, jobs, chunksize=4):
                bar.update()
                yield r


def finish(writer: DatasetWriter, fill: Callable[[], None], previews: int) -> dict[str, Any]:
    """Run `fill()`, close the writer (or drop the partial output on error), print and return the summary."""
    start = time.perf_counter()
    try:
        fill()
    except BaseException:
        writer.abort()
        raise
    summary = writer.close(num_previews=previews)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(describe(summary))
    return summary


def cli_meta(builder: str, a: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The builder's extra meta: name, seed, the CLI arguments, plus `extra`."""
    args = {k: v for k, v in vars(a).items() if k not in ("out", "overwrite", "quiet", "workers")}
    return {"builder": builder, "seed": a.seed, "args": args, **extra}


@dataclass
class Entry:
    """One item to build: where its pixels come from and what it is."""

    id: str
    path: Path
    captions: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    split: str | None = None
    domain: str | None = None


Skips = list[tuple[str, str]]  # (source, reason)
Loaded = tuple[np.ndarray, int] | str  # (pixels, frames padded) or the reason the input was skipped


def file_problem(path: Path) -> str | None:
    """'missing file' / 'empty file' / None."""
    if not path.is_file():
        return "missing file"
    return "empty file" if path.stat().st_size == 0 else None


def load_image(job: tuple[str, str], size: int) -> Loaded:
    """Decode, resize (short side) and center-crop image `job` = (path, id), or say why it cannot be used."""
    path = job[0]
    problem = file_problem(Path(path))
    if problem:
        return problem
    try:
        return read_image(path, size=size), 0
    except ImageReadError:
        return "unreadable image"


def normalize_split(name: Any) -> str | None:
    """Split names from inputs: 'validate'/'validation' -> 'val'; '' / None -> None (assigned by hash)."""
    name = str(name).strip().lower() if name is not None else ""
    return SPLIT_DIR_NAMES.get(name, name) or None


def entries_from_table(
    table: Path, root: Path, label_columns: list[str]
) -> tuple[list[Entry], Skips]:
    """Items from a path,caption table: rows with the same path are one item with several captions.

    Optional fields: `captions` (a list, JSON inputs), `split`, `id`, and the columns named in `label_columns`.
    """
    rows = read_table(table, ("path", "caption|captions"))
    by_path: dict[str, Entry] = {}
    skips: Skips = []
    for source, row in rows:
        rel = str(row["path"]).strip()
        texts = row.get("captions") if isinstance(row.get("captions"), list) else [row.get("caption")]
        captions = [c for c in map(clean_caption, texts) if c]
        if not captions:
            skips.append((source, "empty caption"))
        entry = by_path.get(rel)
        if entry is None:
            labels = {c: str(row[c]).strip() for c in label_columns if str(row.get(c) or "").strip()}
            entry = by_path[rel] = Entry(str(row.get("id") or rel), root / rel, [], labels,
                                         normalize_split(row.get("split")))
        entry.captions += [c for c in captions if c not in entry.captions]
    return [e for e in by_path.values() if e.captions], skips  # caption-less rows are reported above


def class_tree_entries(
    root: Path, suffixes: tuple[str, ...], wrong_type: str, label: str, captions_for: Callable[[str], list[str]]
) -> tuple[list[Entry], Skips, list[str]]:
    """Items of ROOT/<class>/<file> or ROOT/<split>/<class>/<file> (split folders: train/val/test).

    Returns entries (label `label` = class folder name), skipped files and the sorted class names.
    """
    splits = split_subdirs(root) or {None: root}
    entries: list[Entry] = []
    skips: Skips = []
    classes: set[str] = set()
    for split, base in splits.items():
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base)
            if len(rel.parts) < 2:
                skips.append((str(path), "not in a class folder"))
            elif path.suffix.lower() not in suffixes:
                skips.append((str(path), wrong_type))
            else:
                cls = rel.parts[0]
                classes.add(cls)
                item_id = rel.as_posix() if split is None else f"{split}/{rel.as_posix()}"
                entries.append(Entry(item_id, path, captions_for(cls), {label: cls}, split))
    return entries, skips, sorted(classes)


def label_vocabs(entries: list[Entry]) -> dict[str, list[str]]:
    """Sorted vocabulary of every label name used by `entries`."""
    vocab: dict[str, set[str]] = {}
    for e in entries:
        for k, v in e.labels.items():
            vocab.setdefault(k, set()).add(v)
    return {k: sorted(v) for k, v in sorted(vocab.items())}


def write_entries(
    writer: DatasetWriter,
    entries: list[Entry],
    skips: Skips,
    load: Callable[[tuple[str, str]], Loaded],
    a: argparse.Namespace,
    desc: str,
) -> dict[str, Any]:
    """Decode `entries` in order (skipping bad inputs by reason), add them to `writer`, close it, print a summary."""
    skips = list(skips)
    unique: dict[str, Entry] = {}
    for e in sorted(entries, key=lambda e: (e.id, str(e.path))):
        if e.id in unique:
            skips.append((str(e.path), "duplicate id"))
        else:
            e.split = e.split or hash_split(e.id, a.val_fraction)
            unique[e.id] = e
    entries = list(unique.values())
    jobs = [(str(e.path), e.id) for e in entries]

    def fill() -> None:
        for source, reason in skips:
            writer.skip(source, reason)
        padded = 0
        for e, result in zip(entries, ordered_map(load, jobs, a.workers, desc, a.quiet)):
            if isinstance(result, str):
                writer.skip(str(e.path), result)
                continue
            pixels, pad = result
            padded += pad > 0
            writer.add(pixels, e.captions, e.labels, split=e.split, id=e.id, domain=e.domain)
        if writer.kind == "video":
            writer.extra_meta["padded_items"] = padded

    return finish(writer, fill, a.previews)
