"""Stills builder: video dataset -> image dataset with the same captions, labels, splits and held-out list."""
from __future__ import annotations

import json

import numpy as np
import pytest

from t2v.data.builders.frames import build_frames, main
from t2v.data.format import BuiltDataset
from t2v.data.loader import CaptionedDataset
from t2v.errors import ConfigError


def test_middle_frames_keep_captions_labels_splits_and_heldout(tiny_video_dataset, tmp_path):
    summary = build_frames(str(tiny_video_dataset), str(tmp_path / "f"), previews=4, progress_bar=False)
    src, out = BuiltDataset(tiny_video_dataset), BuiltDataset(tmp_path / "f")
    assert out.kind == "image" and out.item_shape == (16, 16, 3) and len(out) == len(src) == summary["num_items"]
    assert out.meta["splits"] == src.meta["splits"] and out.meta["labels"] == src.meta["labels"]
    assert out.meta["heldout_combinations"] == src.meta["heldout_combinations"]
    assert out.meta["builder"] == "frames" and out.meta["source"]["path"] == str(tiny_video_dataset)
    for a, b in zip(src.items, out.items):
        assert (b["captions"], b["labels"], b["split"], b["id"]) == (a["captions"], a["labels"], a["split"],
                                                                     f"{a['id']}/f04")
    assert np.array_equal(out.pixels, src.pixels[:, 4])  # frame T//2 of 8
    assert (tmp_path / "f/previews/grid.png").is_file()
    item = CaptionedDataset(out, split="train", mismatched=True)[0]  # the loader works unchanged
    assert item["pixels"].shape == (3, 16, 16) and item["mismatched_caption"]


def test_random_frames_are_distinct_and_deterministic(tiny_video_dataset, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        build_frames(str(tiny_video_dataset), str(tmp_path / name), "random", 3, seed=seed, previews=0,
                     progress_bar=False)
    a, c = BuiltDataset(tmp_path / "a"), BuiltDataset(tmp_path / "c")
    src = BuiltDataset(tiny_video_dataset)
    assert len(a) == 3 * len(src) and a.meta["splits"] == {k: 3 * v for k, v in src.meta["splits"].items()}
    for f in ("pixels.u8", "items.jsonl", "meta.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert [it["id"] for it in a.items] != [it["id"] for it in c.items]
    for k in range(len(src)):
        picks = [int(it["id"].rsplit("/f", 1)[1]) for it in a.items[3 * k : 3 * k + 3]]
        assert len(set(picks)) == 3 and picks == sorted(picks)
        assert all(np.array_equal(a.pixels[3 * k + j], src.pixels[k, t]) for j, t in enumerate(picks))


def test_labels_subset(tiny_video_dataset, tmp_path):
    main(["--from", str(tiny_video_dataset), "--out", str(tmp_path / "f"), "--labels", "color,place", "--quiet",
          "--previews", "0"])
    out = BuiltDataset(tmp_path / "f")
    assert out.label_names == ["color", "place"] and set(out.items[0]["labels"]) == {"color", "place"}
    assert json.loads((tmp_path / "f/meta.json").read_text())["args"]["labels"] == ["color", "place"]


@pytest.mark.parametrize("args, msg", [
    (["--per-clip", "2"], "--per-clip > 1 needs --frame random"),
    (["--frame", "random", "--per-clip", "9"], r"--per-clip must be in \[1, 8\]"),
    (["--labels", "colour"], r"--labels names \['colour'\]"),
    (["--labels", ","], "--labels is empty"),
])
def test_bad_arguments_are_clear(tiny_video_dataset, tmp_path, args, msg):
    with pytest.raises(ConfigError, match=msg):
        main(["--from", str(tiny_video_dataset), "--out", str(tmp_path / "f"), "--quiet", *args])
    assert not (tmp_path / "f").exists()


def test_source_must_be_a_video_dataset(tiny_video_dataset, tmp_path):
    build_frames(str(tiny_video_dataset), str(tmp_path / "img"), previews=0, progress_bar=False)
    with pytest.raises(ConfigError, match="holds image items; give a video dataset"):
        build_frames(str(tmp_path / "img"), str(tmp_path / "again"), progress_bar=False)

