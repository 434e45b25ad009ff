"""Stills from a video dataset: a built "video" dataset -> a built "image" dataset with the same captions, labels,
splits and held-out list (so the image classifier, the loader and the text-to-image recipes work unchanged).

`--frame middle` keeps frame T//2 of every clip; `--frame random --per-clip K` keeps K distinct frames per clip,
drawn from a generator seeded by (--seed, clip index), so identical inputs give identical outputs.
`--labels a,b` keeps only the labels a still can show (e.g. shape,colour,size of Moving Shapes, whose motion and
direction only a clip shows); the mismatched captions of GAN-CLS are then drawn by those labels.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ...errors import ConfigError
from ..format import BuiltDataset, DatasetWriter
from ..procedural.builder import check, describe, progress, write

# meta keys the writer derives itself; every other key of the source meta (held-out list, caption templates...)
# describes the captions and labels, which are kept, so it is carried over
_OWN_META = {"format", "version", "kind", "num_items", "item_shape", "fps", "size", "frames", "splits", "domains",
             "labels", "builder", "seed", "args"}


def frame_indices(num_frames: int, mode: str, per_clip: int, rng: np.random.Generator) -> list[int]:
    """Which frames of a clip become stills (ascending)."""
    if mode == "middle":
        return [num_frames // 2]
    return sorted(rng.choice(num_frames, per_clip, replace=False).tolist())


def build_frames(source: str, out: str, frame: str = "middle", per_clip: int = 1, labels: list[str] | None = None,
                 seed: int = 0, overwrite: bool = False, previews: int = 16, progress_bar: bool = True) -> dict[str, Any]:
    """Write the stills of the video dataset at `source` to `out`; returns the writer's summary."""
    src = BuiltDataset(source)
    check(src.kind == "video", f"--from {source} holds {src.kind} items; give a video dataset (e.g. data/scenes)")
    check(frame in ("middle", "random"), f"--frame must be middle or random, got {frame!r}")
    frames = int(src.meta["frames"])
    check(frame == "random" or per_clip == 1, "--per-clip > 1 needs --frame random")
    check(1 <= per_clip <= frames, f"--per-clip must be in [1, {frames}] (the clips have {frames} frames), got {per_clip}")
    keep = src.label_names if labels is None else labels
    unknown = [n for n in keep if n not in src.label_names]
    check(not unknown, f"--labels names {unknown}, which {source} does not have; its labels are {src.label_names}")
    meta = {k: v for k, v in src.meta.items() if k not in _OWN_META}
    if "caption_labels" in meta:
        meta["caption_labels"] = [n for n in meta["caption_labels"] if n in keep]
    meta.update({
        "builder": "frames", "seed": seed,
        "args": {"from": str(source), "frame": frame, "per_clip": per_clip, "labels": keep, "seed": seed},
        "source": {"path": str(source), "builder": src.meta.get("builder"), "args": src.meta.get("args")},
    })
    writer = DatasetWriter(out, "image", tuple(src.item_shape[1:]), fps=int(src.meta.get("fps", 8)),
                           labels={n: src.label_vocab(n) for n in keep}, meta=meta, overwrite=overwrite)

    def fill(w: DatasetWriter) -> None:
        for i in progress(range(len(src)), len(src), "frames", progress_bar):
            item = src.items[i]
            picks = frame_indices(frames, frame, per_clip, np.random.default_rng([seed, i]))
            clip = src.pixels[i]
            for t in picks:
                w.add(np.ascontiguousarray(clip[t]), item["captions"], {n: item["labels"][n] for n in keep
                      if n in item["labels"]}, item["split"], id=f"{item['id']}/f{t:02d}")

    return write(writer, fill, previews)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/frames.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--from", dest="source", required=True, help="built video dataset (e.g. data/scenes)")
    p.add_argument("--out", required=True, help="output directory of the image dataset")
    p.add_argument("--frame", choices=["middle", "random"], default="middle", help="which frames (default: middle)")
    p.add_argument("--per-clip", type=int, default=1, help="stills per clip with --frame random (default: 1)")
    p.add_argument("--labels", help="comma-separated labels to keep (default: all of the source's)")
    p.add_argument("--seed", type=int, default=0, help="seed of --frame random (default: 0)")
    p.add_argument("--previews", type=int, default=16, help="images in the preview grid (0 = none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parser().parse_args(argv)
    labels = None if a.labels is None else [n.strip() for n in a.labels.split(",") if n.strip()]
    if labels == []:
        raise ConfigError("--labels is empty; name at least one label or leave it out to keep all")
    summary = build_frames(a.source, a.out, a.frame, a.per_clip, labels, a.seed, a.overwrite, a.previews,
                           not a.quiet)
    print(describe(summary))
    return summary
