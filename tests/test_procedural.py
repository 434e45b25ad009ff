"""Procedural datasets: determinism, held-out splits, label/caption consistency, geometry, and the CLIs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from t2v.data.format import BuiltDataset
from t2v.data.procedural import digits, scenes, shapes
from t2v.data.procedural.draw import Canvas
from t2v.errors import ConfigError, DatasetError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scene_set(tmp_path_factory) -> BuiltDataset:
    out = tmp_path_factory.mktemp("scenes") / "ds"
    scenes.build_scenes(out, num=90, size=32, frames=4, seed=3, previews=0, progress_bar=False)
    return BuiltDataset(out)


@pytest.fixture(scope="module")
def shape_set(tmp_path_factory) -> BuiltDataset:
    out = tmp_path_factory.mktemp("shapes") / "ds"
    shapes.build_moving_shapes(out, objects=2, num=60, size=32, frames=6, seed=1, previews=0, progress_bar=False)
    return BuiltDataset(out)


def test_canvas_antialiased_area() -> None:
    c = Canvas.blank(1, 40, 40)
    c.circle(20.0, 20.0, 8.0, (1.0, 1.0, 1.0))
    assert c.frames[0, ..., 0].sum() == pytest.approx(np.pi * 64, rel=0.01)
    assert 0 < np.count_nonzero((c.frames > 0) & (c.frames < 1))  # soft edge
    c = Canvas.blank(1, 20, 20)
    c.polygon(np.array([[2.0, 2.0], [12.0, 3.0], [6.0, 12.0]]), (1.0, 1.0, 1.0))
    assert c.frames[0, ..., 0].sum() == pytest.approx(48.0, rel=0.02)


def test_render_deterministic_per_seed() -> None:
    a = scenes.render_clip("kitesurf", "snow", "left", np.random.default_rng([0, 5]), size=32, frames=4)
    b = scenes.render_clip("kitesurf", "snow", "left", np.random.default_rng([0, 5]), size=32, frames=4)
    c = scenes.render_clip("kitesurf", "snow", "left", np.random.default_rng([0, 6]), size=32, frames=4)
    assert a.dtype == np.uint8 and a.shape == (4, 32, 32, 3)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def test_build_is_byte_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        scenes.build_scenes(tmp_path / name, num=12, size=24, frames=3, seed=7, previews=0, progress_bar=False)
    for f in ("pixels.u8", "items.jsonl", "meta.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    scenes.build_scenes(tmp_path / "c", num=12, size=24, frames=3, seed=8, previews=0, progress_bar=False)
    assert (tmp_path / "a" / "pixels.u8").read_bytes() != (tmp_path / "c" / "pixels.u8").read_bytes()


def test_scenes_format_and_labels(scene_set: BuiltDataset) -> None:
    ds = scene_set
    assert ds.pixels.shape == (90, 4, 32, 32, 3) and ds.pixels.dtype == np.uint8
    assert ds.meta["frames"] == 4 and ds.meta["size"] == [32, 32] and ds.meta["kind"] == "video"
    assert ds.label_names == ["action", "place", "direction"]
    for item in ds.items:
        lab = item["labels"]
        caps = item["captions"]
        assert caps[0] == scenes.short_caption(lab["action"], lab["place"]) == \
            f"{scenes.VERBS[lab['action']].base} {scenes.WHERE[lab['place']].short}"
        assert len(caps) == len(scenes.CAPTION_TEMPLATES) and len(set(caps)) == len(caps)
        assert all(lab["direction"] in c for c in caps[4:])
        assert item["id"].startswith(f"{lab['action']}-{lab['place']}-")
    # every combination occurs (90 items = 3 per combination)
    assert {(i["labels"]["action"], i["labels"]["place"]) for i in ds.items} == \
        {(a, p) for a in scenes.ACTIONS for p in scenes.PLACES}


def test_scenes_heldout_combinations(scene_set: BuiltDataset) -> None:
    ds = scene_set
    held = {(h["action"], h["place"]) for h in ds.meta["heldout_combinations"]}
    assert held == set(scenes.DEFAULT_HELDOUT)
    assert {h["caption"] for h in ds.meta["heldout_combinations"]} >= {"play golf on snow", "sail on grass",
                                                                       "jog on sea", "kitesurf on snow", "bike on sand"}
    combo = lambda i: (ds.items[i]["labels"]["action"], ds.items[i]["labels"]["place"])
    seen = {combo(i) for split in ("train", "val") for i in ds.indices(split)}
    assert not seen & held and len(seen) == 25
    assert {combo(i) for i in ds.indices("heldout")} == held
    assert set(ds.meta["splits"]) == {"train", "val", "heldout"}


def test_scenes_short_forms() -> None:
    assert scenes.short_caption("golf", "snow") == "play golf on snow"
    assert scenes.short_caption("swim", "pool") == "swim in the swimming pool"
    assert scenes.short_caption("kitesurf", "sea") == "kitesurf on sea"
    assert scenes.parse_pairs("golf:snow, bike:sand") == [("golf", "snow"), ("bike", "sand")]
    with pytest.raises(ConfigError):
        scenes.parse_pairs("golf:mars")


def test_shapes_labels_captions_and_heldout(shape_set: BuiltDataset) -> None:
    ds = shape_set
    assert ds.pixels.shape == (60, 6, 32, 32, 3)
    assert ds.label_names == [f"obj{k}_{a}" for k in (1, 2) for a in shapes.ATTRIBUTES]
    held = {(h["shape"], h["colour"], h["size"]) for h in ds.meta["heldout_combinations"]}
    for item in ds.items:
        lab = item["labels"]
        objs = [shapes.ShapeObject(*(lab[f"obj{k}_{a}"] for a in shapes.ATTRIBUTES)) for k in (1, 2)]
        assert item["captions"] == shapes.captions(objs)
        first, second = item["captions"][0].split(" and ")
        assert first.lower().startswith(f"a {objs[0].size} {objs[0].colour} {objs[0].shape} is moving")
        assert second.startswith(f"a {objs[1].size} {objs[1].colour} {objs[1].shape}")
        for o in objs:
            axis = o.direction in shapes.AXIS_DIRECTIONS
            assert axis == (o.motion != "diagonal")
        n_held = sum(o.triple in held for o in objs)
        assert n_held == (1 if item["split"] == "heldout" else 0)


def test_shapes_one_object_caption() -> None:
    o = shapes.ShapeObject("circle", "green", "large", "zigzag", "east")
    assert shapes.captions([o])[0] == "A large green circle is moving in a zigzag path towards east"
    assert shapes.labels([o]) == {"shape": "circle", "colour": "green", "size": "large", "motion": "zigzag",
                                  "direction": "east"}


def test_shapes_stay_inside_frame() -> None:
    rng = np.random.default_rng(0)
    size, frames = 48, 16
    for _ in range(150):
        (o,) = shapes.sample_objects(rng, 1, "train", shapes.DEFAULT_HELDOUT)
        clip, centres = shapes.render_clip([o], rng, size, frames)
        r = shapes.RADIUS[o.size] * size
        assert centres.min() >= r - 1e-3 and centres.max() <= size - r + 1e-3
        ink = clip.astype(np.float64).sum(axis=(1, 2, 3))
        assert ink.min() > 0.93 * ink.max()  # the whole object is visible in every frame
        path = centres[0, -1] - centres[0, 0]
        ux, uy = shapes.UNIT[o.direction]
        assert path[0] * ux >= 0 and path[1] * uy >= 0 and np.dot(path, (ux, uy)) > 0.2 * size


def test_printed_and_handwritten_digits() -> None:
    fonts, _ = digits.load_fonts("bundled")
    assert fonts[0].name == "seven-segment"
    a = digits.render_printed(fonts, 7, np.random.default_rng([0, 1]))
    b = digits.render_printed(fonts, 7, np.random.default_rng([0, 1]))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8 and a.tobytes() == b.tobytes()
    assert (a[..., 0] == a[..., 2]).all() and a.max() > 150 and a[0].max() < 100  # white digit on black
    hand, labels = digits.handwritten(32)
    assert hand.shape == (1797, 32, 32, 3) and sorted(set(labels.tolist())) == list(range(10))
    split = digits.target_split(len(hand), seed=0)
    assert (split == "test").sum() == 500 and (split == "train").sum() == 1297
    assert (digits.target_split(len(hand), seed=0) == split).all()
    assert digits.captions(7, "handwritten")[:2] == ["the digit seven", "a handwritten 7"]


def _ink_box(img: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(img[..., 0] > 64)
    return ys.min(), ys.max(), xs.min(), xs.max()


def test_printed_digits_normalized_framing() -> None:
    fonts, _ = digits.load_fonts("bundled")
    heights, offsets = {"random": [], "normalized": []}, {"random": [], "normalized": []}
    for i in range(40):
        for framing in heights:
            img = digits.render_printed(fonts, i % 10, np.random.default_rng([0, i]), 32, framing)
            y0, y1, x0, x1 = _ink_box(img)
            heights[framing].append(y1 - y0 + 1)
            offsets[framing].append(max(abs((y0 + y1) / 2 - 15.5), abs((x0 + x1) / 2 - 15.5)))
    # normalized: every digit tall (the handwritten digits span ~31 of 32 rows) and centred; random: smaller, anywhere
    # (measured on these 40: heights 24-32 vs 18-32, mean 28.1 vs 22.6; mean offset 0.5 vs 3.8 px)
    assert min(heights["normalized"]) >= 22 and np.mean(heights["normalized"]) > np.mean(heights["random"]) + 3
    assert np.mean(offsets["normalized"]) < 1.5 < np.mean(offsets["random"]) and max(offsets["normalized"]) <= 4
    with pytest.raises(DatasetError, match="framing"):
        digits.render_printed(fonts, 1, np.random.default_rng(0), 32, "tight")
    with pytest.raises(ConfigError, match="--framing"):
        digits.build_digits("unused", "unpaired", framing="tight")


def test_digits_forms(tmp_path: Path) -> None:
    for form, kind, domains in (("labeled", "labeled", {"source", "target"}), ("unpaired", "unpaired", {"A", "B"}),
                                ("captions", "image", set())):
        digits.build_digits(tmp_path / form, form, num_source=40, seed=0, fonts="bundled", previews=0,
                            progress_bar=False)
        ds = BuiltDataset(tmp_path / form)
        assert ds.meta["kind"] == kind and ds.pixels.shape == (40 + 1797, 32, 32, 3)
        assert set(ds.meta.get("domains", {})) == domains
        assert ds.meta["protocol"]["size"] == [32, 32]
        for item in ds.items[::97]:
            digit = int(item["labels"]["digit"])
            style = "printed" if item["id"].startswith("printed") else "handwritten"
            assert f"the digit {digits.NAMES[digit]}" in item["captions"] and f"a {style} {digit}" in item["captions"]
            if form == "captions":
                assert item["labels"]["style"] == style
        if domains:
            target = "target" if form == "labeled" else "B"
            assert len(ds.indices("test", target)) == 500 and len(ds.indices("train", target)) == 1297


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_clis_end_to_end(tmp_path: Path) -> None:
    runs = [
        ("datasets/scenes.py", "--out", str(tmp_path / "scenes"), "--num", "30", "--size", "24", "--frames", "3",
         "--previews", "1"),
        ("datasets/moving_shapes.py", "--out", str(tmp_path / "shapes1"), "--objects", "1", "--num", "10", "--size",
         "24", "--frames", "4", "--previews", "1"),
        ("datasets/digits.py", "--out", str(tmp_path / "digits"), "--as", "unpaired", "--num-source", "20",
         "--fonts", "bundled", "--previews", "4"),
    ]
    for args in runs:
        done = _cli(str(ROOT / args[0]), *args[1:], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        out = Path(args[2])
        assert "built" in done.stdout and (out / "meta.json").is_file() and (out / "previews").is_dir()
        assert json.loads((out / "meta.json").read_text())["builder"] in ("scenes", "moving_shapes", "digits")
    assert (tmp_path / "scenes" / "previews" / "overview.png").is_file()
    # an existing dataset is never overwritten silently; bad arguments are one line, exit 2
    again = _cli(str(ROOT / runs[0][0]), *runs[0][1:], cwd=tmp_path)
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    bad = _cli(str(ROOT / "datasets/scenes.py"), "--out", str(tmp_path / "x"), "--heldout", "golf:mars", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "golf:mars" in bad.stderr
    assert not (tmp_path / "x").exists()
