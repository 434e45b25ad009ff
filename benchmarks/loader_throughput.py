"""Loader throughput: clips/s from a built dataset (memmap) vs decoding an mp4 per clip with read_video.

Builds a synthetic dataset of random-pixel clips (DatasetWriter) and the same clips as mp4 files in a temp dir,
then times DataLoader(batch_size=32) for each path. Run: `python benchmarks/loader_throughput.py`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from t2v.data.format import DatasetWriter  # noqa: E402
from t2v.data.loader import CaptionedDataset, make_loader, normalize_pixels  # noqa: E402
from t2v.data.video import read_video, write_video  # noqa: E402


class PerItem(Dataset):
    """Hides `__getitems__`, so DataLoader fetches item by item and stacks with the default collate."""

    def __init__(self, ds: CaptionedDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, k: int) -> dict:
        return self.ds[k]


class DecodeMp4(Dataset):
    """The baseline: decode each clip from its mp4 on every access."""

    def __init__(self, paths: list[Path], frames: int) -> None:
        self.paths, self.frames = paths, frames

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int) -> dict:
        u8 = torch.from_numpy(read_video(self.paths[k], num_frames=self.frames))
        return {"pixels": normalize_pixels(u8.permute(3, 0, 1, 2)), "caption": f"clip {k}"}


def clips_per_second(loader: DataLoader, seconds: float, convert: bool = False, finish=None) -> float:
    """Iterate (restarting epochs) for about `seconds` after one warm-up batch; optionally normalise uint8, or
    `finish` each batch here (CaptionedDataset.load_pixels for deferred datasets, as the trainer does)."""
    it = iter(loader)
    next(it)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        if finish is not None:
            batch = finish(batch)
            if batch["pixels"].is_cuda:
                torch.cuda.synchronize()
        if convert:
            normalize_pixels(batch["pixels"])
        n += len(batch["caption"])
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0, help="timing window per row")
    parser.add_argument("--device", default="cpu", help="where the deferred rows put their pixels (cuda: as a GPU "
                        "trainer does: uint8 copied over, converted there)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = (args.frames, args.size, args.size, 3)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        writer = DatasetWriter(Path(tmp) / "ds", "video", shape, labels={"class": [str(c) for c in range(10)]})
        mp4s = []
        for i in range(args.items):
            clip = rng.integers(0, 256, shape, dtype=np.uint8)
            writer.add(clip, [f"clip {i}", f"video {i}"], {"class": str(i % 10)}, split="train")
            if i < 64:  # decoding is the slow path: 64 files are plenty to time it
                mp4s.append(write_video(Path(tmp) / f"{i}.mp4", clip))
        writer.close(num_previews=0)
        ds = CaptionedDataset(Path(tmp) / "ds", mismatched=True)
        raw = CaptionedDataset(Path(tmp) / "ds", mismatched=True, uint8=True)
        lazy = CaptionedDataset(Path(tmp) / "ds", mismatched=True, defer_pixels=True)
        lazy_u8 = CaptionedDataset(Path(tmp) / "ds", mismatched=True, uint8=True, defer_pixels=True)
        bs, w = args.batch_size, args.workers
        rows = [
            ("mp4 decode (read_video) per clip", DataLoader(DecodeMp4(mp4s, args.frames), bs, shuffle=True,
                                                            num_workers=w, persistent_workers=w > 0), False),
            ("built, per item + default collate", DataLoader(PerItem(ds), bs, shuffle=True, num_workers=w,
                                                             persistent_workers=w > 0), False),
            ("built, batched float32 (make_loader)", make_loader(ds, bs, num_workers=w), False),
            ("built, deferred, float32 read here (trainer)", make_loader(lazy, bs, num_workers=w),
             lambda b: lazy.load_pixels(b, args.device)),
            ("built, deferred, uint8 read here", make_loader(lazy_u8, bs, num_workers=w),
             lambda b: lazy_u8.load_pixels(b, args.device)),
            ("built, batched uint8", make_loader(raw, bs, num_workers=w), False),
            ("built, batched uint8 + normalize here", make_loader(raw, bs, num_workers=w), True),
            ("built, batched float32, in-process", make_loader(ds, bs, num_workers=0), False),
            ("built, batched uint8, in-process", make_loader(raw, bs, num_workers=0), False),
        ]
        print(f"clip {args.frames}x{args.size}x{args.size}x3 uint8, batch {bs}, workers {w}, deferred -> {args.device}, "
              f"torch threads 1, {args.items} clips (mp4: 64), {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'path':<50} {'clips/s':>9}")
        for name, loader, how in rows:
            workers = 0 if "in-process" in name else w
            convert, finish = (how, None) if isinstance(how, bool) else (False, how)
            rate = clips_per_second(loader, args.seconds, convert, finish)
            print(f"{name + f' [w={workers}]':<50} {rate:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
