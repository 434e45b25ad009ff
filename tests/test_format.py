"""Built-dataset format: writer/reader round trip, atomic close, determinism, clear errors on broken dirs."""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from t2v.data.format import BuiltDataset, DatasetWriter
from t2v.errors import DatasetError

SHAPE = (4, 8, 8, 3)
ACTIONS = ["golf", "swim", "run"]


def write_small(out: Path, n: int = 10, overwrite: bool = False, num_previews: int = 3) -> dict:
    w = DatasetWriter(out, "video", SHAPE, fps=6, labels={"action": ACTIONS, "place": ["snow", "sea"]},
                      meta={"builder": "video_captions", "seed": 3}, overwrite=overwrite)
    for i in range(n):
        pixels = np.full(SHAPE, i * 7, np.uint8)
        pixels[:, 0, 0] = np.arange(4)[:, None]  # distinguishes frames
        labels = {"action": ACTIONS[i % 3], "place": ["snow", "sea"][i % 2]}
        w.add(pixels, [f"play {i}", f"clip number {i}"], labels, split="val" if i % 5 == 0 else "train", id=f"c{i}")
    w.skip("broken.mp4", "unreadable video")
    w.skip("empty.mp4", "unreadable video")
    w.skip("x.mp4", "empty caption")
    return w.close(num_previews=num_previews)


def tree_hash(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    summary = write_small(out)
    assert summary["num_items"] == 10 and summary["splits"] == {"train": 8, "val": 2}
    assert summary["skipped"] == {"empty caption": 1, "unreadable video": 2}
    assert not (tmp_path / "ds.tmp").exists()

    ds = BuiltDataset(out)
    meta = ds.meta
    assert meta["format"] == "t2v-dataset" and meta["version"] == 1 and meta["kind"] == "video"
    assert meta["item_shape"] == list(SHAPE) and meta["frames"] == 4 and meta["size"] == [8, 8] and meta["fps"] == 6
    assert meta["labels"]["action"] == ACTIONS and meta["builder"] == "video_captions" and meta["seed"] == 3
    assert ds.pixels.shape == (10, *SHAPE) and ds.pixels.dtype == np.uint8
    assert isinstance(ds.pixels, np.memmap)
    assert ds.pixels[7, 2, 3, 3, 0] == 49 and ds.pixels[7, 2, 0, 0, 0] == 2
    assert ds.items[4] == {"index": 4, "id": "c4", "split": "train", "captions": ["play 4", "clip number 4"],
                           "labels": {"action": "swim", "place": "snow"}}
    np.testing.assert_array_equal(ds.indices("val"), [0, 5])
    assert len(ds.indices()) == 10
    assert ds.label_names == ["action", "place"] and ds.label_vocab("place") == ["snow", "sea"]
    np.testing.assert_array_equal(ds.label_ids(5), [2, 1])
    assert ds.label_ids(5).dtype == np.int64

    report = json.loads((out / "report.json").read_text())
    assert report["skipped_by_reason"] == {"empty caption": 1, "unreadable video": 2}
    assert {"source": "broken.mp4", "reason": "unreadable video"} in report["skipped"]
    previews = sorted(p.name for p in (out / "previews").iterdir())
    assert previews == ["0000000.mp4", "0000000.png", "0000004.mp4", "0000004.png", "0000009.mp4", "0000009.png",
                        "captions.txt"]


def test_deterministic_bytes(tmp_path: Path) -> None:
    write_small(tmp_path / "a")
    write_small(tmp_path / "b")
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")


def test_pickles_without_pixels(tmp_path: Path) -> None:
    write_small(tmp_path / "ds")
    ds = BuiltDataset(tmp_path / "ds")
    _ = ds.pixels[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 20_000
    np.testing.assert_array_equal(clone.pixels[3], ds.pixels[3])


def test_image_kinds_and_domains(tmp_path: Path) -> None:
    w = DatasetWriter(tmp_path / "u", "unpaired", (6, 6, 3))
    for i in range(5):
        w.add(np.full((6, 6, 3), i, np.uint8), [], split="train" if i < 4 else "test", domain="AB"[i % 2])
    with pytest.raises(ValueError, match="domain"):
        w.add(np.zeros((6, 6, 3), np.uint8), [], split="train")
    w.close()
    ds = BuiltDataset(tmp_path / "u")
    assert ds.meta["domains"] == {"A": 3, "B": 2} and "frames" not in ds.meta
    np.testing.assert_array_equal(ds.indices("train", "A"), [0, 2])
    assert ds.label_names == [] and ds.label_ids(0).shape == (0,)
    assert (tmp_path / "u" / "previews" / "grid.png").is_file()


def test_writer_rejects_bad_items(tmp_path: Path) -> None:
    w = DatasetWriter(tmp_path / "x", "video", SHAPE, labels={"action": ACTIONS})
    with pytest.raises(ValueError, match="uint8"):
        w.add(np.zeros((4, 8, 8, 3), np.float32), ["a"], split="train")
    with pytest.raises(ValueError, match="vocabulary"):
        w.add(np.zeros(SHAPE, np.uint8), ["a"], {"action": "dance"}, split="train")
    w.add(np.zeros(SHAPE, np.uint8), ["a"], split="train", id="same")
    with pytest.raises(ValueError, match="duplicate"):
        w.add(np.zeros(SHAPE, np.uint8), ["b"], split="train", id="same")
    w.abort()
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.tmp").exists()


def test_atomic_close_and_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_small(out, n=4)
    with pytest.raises(DatasetError, match="already exists"):
        DatasetWriter(out, "video", SHAPE)
    with pytest.raises(RuntimeError):  # a crash mid-build leaves the existing dataset untouched
        with DatasetWriter(out, "video", SHAPE, overwrite=True) as w:
            w.add(np.zeros(SHAPE, np.uint8), ["x"], split="train")
            raise RuntimeError("boom")
    assert len(BuiltDataset(out)) == 4 and not (tmp_path / "ds.tmp").exists()
    write_small(out, n=6, overwrite=True)
    assert len(BuiltDataset(out)) == 6 and not (tmp_path / "ds.old").exists()
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "me.jpg").write_bytes(b"jpg")
    with pytest.raises(DatasetError, match="not a built dataset"):
        DatasetWriter(precious, "image", (4, 4, 3), overwrite=True)
    assert (precious / "me.jpg").is_file()


def test_empty_build_is_an_error(tmp_path: Path) -> None:
    w = DatasetWriter(tmp_path / "e", "image", (4, 4, 3))
    w.skip("a.png", "unreadable image")
    with pytest.raises(DatasetError, match="no usable items.*1 unreadable image"):
        w.close()
    assert not (tmp_path / "e").exists() and not (tmp_path / "e.tmp").exists()


def test_reader_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no built dataset at .*datasets/") as e:
        BuiltDataset(tmp_path / "missing")
    assert "\n" not in str(e.value)
    out = tmp_path / "ds"
    write_small(out, n=4)
    pixels = out / "pixels.u8"
    pixels.write_bytes(pixels.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"truncated.*python datasets/video_captions.py --out"):
        BuiltDataset(out)
    pixels.unlink()
    with pytest.raises(DatasetError, match="missing"):
        BuiltDataset(out)
    (out / "meta.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        BuiltDataset(out)
    (out / "meta.json").write_text(json.dumps({"format": "t2v-dataset", "version": 99}))
    with pytest.raises(DatasetError, match="version 99"):
        BuiltDataset(out)
