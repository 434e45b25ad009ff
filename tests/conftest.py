"""Shared fixtures: tiny datasets made here (no downloads), small thread counts for a shared CPU."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_root_module(relpath: str):
    """A script of the repository (sample.py, benchmarks/*.py) as a module, loaded from its file: an in-process
    run_cli (errors.hide_repo_root) may have taken the repository root off sys.path, so a plain `import sample` or
    `from benchmarks... import` would depend on test order."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(relpath).stem, ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sample_module():
    return load_root_module("sample.py")


COLORS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 80, 220)}
PLACES = {"grass": (60, 140, 60), "snow": (235, 235, 240)}


def make_tiny_video_dataset(out: Path, frames: int = 8, size: int = 16, per_combo: int = 4, seed: int = 0) -> Path:
    """A ball of some colour moving left or right over a plain background: captions name colour, place, direction."""
    from t2v.data.format import DatasetWriter

    rng = np.random.default_rng(seed)
    labels = {"color": list(COLORS), "place": list(PLACES), "direction": ["left", "right"]}
    w = DatasetWriter(out, "video", (frames, size, size, 3), fps=8, labels=labels,
                      meta={"heldout_combinations": [["blue", "snow"]]})
    for color, rgb in COLORS.items():
        for place, bg in PLACES.items():
            split = "heldout" if (color, place) == ("blue", "snow") else "train"
            for k in range(per_combo):
                direction = ["left", "right"][k % 2]
                clip = np.empty((frames, size, size, 3), np.uint8)
                clip[:] = bg
                y = int(rng.integers(3, size - 4))
                for t in range(frames):
                    x = 2 + t if direction == "right" else size - 3 - t
                    clip[t, y - 2 : y + 2, max(x - 2, 0) : x + 2] = rgb
                caps = [f"a {color} ball moving {direction} on {place}", f"{color} ball on {place}"]
                w.add(clip, caps, {"color": color, "place": place, "direction": direction}, split=split)
    w.close(num_previews=2)
    return out


@pytest.fixture(scope="session")
def tiny_video_dataset(tmp_path_factory) -> Path:
    return make_tiny_video_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
    yield
