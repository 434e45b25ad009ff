"""Real-data builders on tiny inputs made here (mp4s via PyAV, PNGs via our writer), including broken files."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from t2v.data.builders import image_captions, image_folders, video_captions
from t2v.data.format import BuiltDataset
from t2v.data.video import write_png, write_video
from t2v.errors import ConfigError, DatasetError

ROOT = Path(__file__).resolve().parents[1]
VIDEO_ARGS = ["--frames", "4", "--stride", "2", "--size", "8", "--val-fraction", "0", "--previews", "2", "--quiet"]
IMAGE_ARGS = ["--size", "8", "--val-fraction", "0", "--previews", "2", "--quiet"]


def grey_clip(t: int, h: int = 12, w: int = 16) -> np.ndarray:
    """Frame k is flat grey 20*k, so the decoded frame index can be read from the pixels."""
    return np.stack([np.full((h, w, 3), 20 * k, np.uint8) for k in range(t)])


def frame_values(pixels: np.ndarray) -> list[int]:
    return [int(round(v)) for v in pixels.reshape(len(pixels), -1).mean(1)]


def add_broken_files(folder: Path, suffix: str) -> None:
    """A zero-byte file, a truncated file and a text file disguised with the media suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"empty{suffix}").write_bytes(b"")
    good = (write_video(folder / "tmp.mp4", grey_clip(8)) if suffix == ".mp4"
            else write_png(folder / "tmp.png", np.zeros((16, 16, 3), np.uint8))).read_bytes()
    (folder / f"tmp{suffix}").unlink()
    (folder / f"truncated{suffix}").write_bytes(good[: len(good) // 4])
    (folder / f"text{suffix}").write_text("not media at all\n" * 20)


def tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "long.mp4", grey_clip(12))  # 12 frames: the 7-frame window is centered at 2..8
    write_video(root / "short.mp4", grey_clip(3))  # 3 frames: 2 decoded at stride 2, padded to 4
    add_broken_files(root, ".mp4")
    return root


def test_video_captions_csv_with_bad_inputs(video_root: Path, tmp_path: Path) -> None:
    table = tmp_path / "caps.csv"
    table.write_text("path,caption,split,color\n"
                     "long.mp4,a grey   fade,,dark\n"
                     "long.mp4,the screen brightens,,dark\n"
                     "long.mp4,   ,,dark\n"
                     "short.mp4,a short fade,val,light\n"
                     "empty.mp4,zero bytes,,dark\n"
                     "truncated.mp4,cut short,,dark\n"
                     "text.mp4,not a video,,dark\n"
                     "missing.mp4,no such file,,dark\n")
    out = tmp_path / "ds"
    summary = video_captions.main(["--captions", str(table), "--root", str(video_root), "--out", str(out),
                                   "--label-columns", "color", *VIDEO_ARGS])
    assert summary["num_items"] == 2 and summary["splits"] == {"train": 1, "val": 1}
    assert summary["skipped"] == {"empty caption": 1, "empty file": 1, "missing file": 1, "unreadable video": 2}
    ds = BuiltDataset(out)
    assert ds.meta["kind"] == "video" and ds.meta["item_shape"] == [4, 8, 8, 3] and ds.meta["builder"] == "video_captions"
    assert ds.meta["padded_items"] == 1 and "padded" in ds.meta["padding"] and ds.meta["stride"] == 2
    assert ds.label_vocab("color") == ["dark", "light"]
    long_item, short_item = sorted(ds.items, key=lambda it: it["id"])
    assert long_item["captions"] == ["a grey fade", "the screen brightens"] and long_item["labels"] == {"color": "dark"}
    np.testing.assert_allclose(frame_values(ds.pixels[long_item["index"]]), [40, 80, 120, 160], atol=4)
    np.testing.assert_allclose(frame_values(ds.pixels[short_item["index"]]), [0, 40, 40, 40], atol=4)
    report = json.loads((out / "report.json").read_text())
    assert {"source": str(video_root / "text.mp4"), "reason": "unreadable video"} in report["skipped"]
    assert (out / "previews" / "captions.txt").is_file()


def test_video_captions_jsonl_is_deterministic_and_parallel(video_root: Path, tmp_path: Path) -> None:
    table = tmp_path / "caps.jsonl"
    rows = [{"path": "long.mp4", "captions": ["fade in", "brighter"], "id": "L"},
            {"path": "short.mp4", "caption": "short"}, {"path": "text.mp4", "caption": "bad"},
            {"path": "truncated.mp4", "caption": "same id", "id": "L"}]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    args = ["--captions", str(table), "--root", str(video_root), *VIDEO_ARGS, "--clip-start", "random"]
    summary = video_captions.main([*args, "--out", str(tmp_path / "a"), "--seed", "1"])
    assert summary["skipped"] == {"duplicate id": 1, "unreadable video": 1}
    video_captions.main([*args, "--out", str(tmp_path / "b"), "--seed", "1", "--workers", "2"])
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")
    ds = BuiltDataset(tmp_path / "a")
    assert [it["id"] for it in ds.items] == ["L", "short.mp4"] and ds.items[0]["captions"] == ["fade in", "brighter"]


def test_kinetics_tree(tmp_path: Path) -> None:
    root = tmp_path / "kinetics"
    write_video(root / "playing_golf" / "g1.mp4", grey_clip(8))
    write_video(root / "playing_golf" / "g2.mp4", grey_clip(8))
    write_video(root / "swimming" / "s1.mp4", grey_clip(8))
    add_broken_files(root / "swimming", ".mp4")
    (root / "swimming" / "notes.txt").write_text("hello")
    write_video(root / "stray.mp4", grey_clip(8))
    summary = video_captions.main(["--kinetics", str(root), "--out", str(tmp_path / "ds"), *VIDEO_ARGS])
    assert summary["skipped"] == {"empty file": 1, "not a video file": 1, "not in a class folder": 1,
                                  "unreadable video": 2}
    ds = BuiltDataset(tmp_path / "ds")
    assert ds.label_vocab("action") == ["playing_golf", "swimming"]
    golf = ds.items[0]
    assert golf["id"] == "playing_golf/g1.mp4" and golf["labels"] == {"action": "playing_golf"}
    assert golf["captions"] == ["a person playing golf", "playing golf", "someone is playing golf",
                                "a video of a person playing golf"]
    video_captions.main(["--kinetics", str(root), "--out", str(tmp_path / "t"), *VIDEO_ARGS,
                         "--template", "{class} video"])
    assert BuiltDataset(tmp_path / "t").items[2]["captions"] == ["swimming video"]
    with pytest.raises(ConfigError, match=r"\{class\}"):
        video_captions.main(["--kinetics", str(root), "--out", str(tmp_path / "x"), "--template", "no slot"])


def test_kinetics_split_folders(tmp_path: Path) -> None:
    root = tmp_path / "k"
    write_video(root / "train" / "run" / "a.mp4", grey_clip(8))
    write_video(root / "val" / "run" / "a.mp4", grey_clip(8))
    write_video(root / "val" / "jump" / "b.mp4", grey_clip(8))
    video_captions.main(["--kinetics", str(root), "--out", str(tmp_path / "ds"), *VIDEO_ARGS])
    ds = BuiltDataset(tmp_path / "ds")
    assert ds.meta["splits"] == {"train": 1, "val": 2}
    assert [it["id"] for it in ds.items] == ["train/run/a.mp4", "val/jump/b.mp4", "val/run/a.mp4"]


def test_msrvtt(video_root: Path, tmp_path: Path) -> None:
    ann = {"videos": [{"video_id": "long", "split": "validate", "category": 3},
                      {"video_id": "short", "split": "train", "category": 7},
                      {"video_id": "truncated", "split": "train", "category": 3},
                      {"video_id": "silent", "split": "train", "category": 3}],
           "sentences": [{"video_id": "long", "caption": "a fade"}, {"video_id": "long", "caption": "grey"},
                         {"video_id": "short", "caption": ""}, {"video_id": "short", "caption": "quick"},
                         {"video_id": "truncated", "caption": "broken"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    summary = video_captions.main(["--msrvtt", str(tmp_path / "ann.json"), "--root", str(video_root),
                                   "--out", str(tmp_path / "ds"), *VIDEO_ARGS])
    assert summary["skipped"] == {"empty caption": 1, "no caption": 1, "unreadable video": 1}
    ds = BuiltDataset(tmp_path / "ds")
    assert ds.meta["splits"] == {"train": 1, "val": 1} and ds.label_vocab("category") == ["3", "7"]
    assert ds.items[0]["id"] == "long" and ds.items[0]["captions"] == ["a fade", "grey"]


def test_all_inputs_bad_is_one_clear_error(video_root: Path, tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("path,caption\nempty.mp4,x\ntext.mp4,y\n")
    with pytest.raises(DatasetError, match="no usable items.*1 empty file, 1 unreadable video"):
        video_captions.main(["--captions", str(table), "--root", str(video_root), "--out", str(tmp_path / "o"),
                             *VIDEO_ARGS])
    assert not (tmp_path / "o").exists()
    (tmp_path / "nocol.csv").write_text("file,text\na.mp4,hi\n")
    with pytest.raises(ConfigError, match="need the fields path"):
        video_captions.main(["--captions", str(tmp_path / "nocol.csv"), "--root", str(video_root),
                             "--out", str(tmp_path / "o")])


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    for name, value in [("red", 200), ("dark", 30), ("mid", 120)]:
        img = np.zeros((16, 24, 3), np.uint8)
        img[:, 4:20] = value  # the center crop sees only `value`
        write_png(root / f"{name}.png", img)
    add_broken_files(root, ".png")
    return root


def test_image_captions_table(image_root: Path, tmp_path: Path) -> None:
    table = tmp_path / "caps.jsonl"
    rows = [{"path": "red.png", "caption": "a bright thing"}, {"path": "dark.png", "caption": "a dark thing"},
            {"path": "mid.png", "caption": ""}, {"path": "truncated.png", "caption": "x"},
            {"path": "text.png", "caption": "y"}, {"path": "empty.png", "caption": "z"},
            {"path": "gone.png", "caption": "w"}]
    table.write_text("\n".join(json.dumps(r) for r in rows))
    summary = image_captions.main(["--captions", str(table), "--root", str(image_root), "--out", str(tmp_path / "d"),
                                   *IMAGE_ARGS])
    assert summary["skipped"] == {"empty caption": 1, "empty file": 1, "missing file": 1, "unreadable image": 2}
    ds = BuiltDataset(tmp_path / "d")
    assert ds.meta["kind"] == "image" and ds.pixels.shape == (2, 8, 8, 3)
    assert [it["id"] for it in ds.items] == ["dark.png", "red.png"]
    assert abs(int(ds.pixels[1][2:6, 2:6].mean()) - 200) <= 2  # resized 16x24 -> 8x12, center 8x8 kept
    assert (tmp_path / "d" / "previews" / "grid.png").is_file()


def test_coco_captions(image_root: Path, tmp_path: Path) -> None:
    coco = {"images": [{"id": 1, "file_name": "red.png"}, {"id": 2, "file_name": "text.png"},
                       {"id": 3, "file_name": "mid.png"}],
            "annotations": [{"image_id": 1, "caption": "red block"}, {"image_id": 1, "caption": "a red square"},
                            {"image_id": 2, "caption": "oops"}, {"image_id": 9, "caption": "orphan"}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    summary = image_captions.main(["--coco", str(tmp_path / "coco.json"), "--root", str(image_root),
                                   "--out", str(tmp_path / "d"), "--split", "val", *IMAGE_ARGS])
    assert summary["skipped"] == {"caption of an unknown image_id": 1, "no caption": 1, "unreadable image": 1}
    ds = BuiltDataset(tmp_path / "d")
    assert ds.meta["splits"] == {"val": 1} and ds.items[0]["captions"] == ["red block", "a red square"]


def test_text_file_per_image_layouts(tmp_path: Path) -> None:
    cub = tmp_path / "cub"
    write_png(cub / "images" / "001.Albatross" / "alb_1.png", np.full((10, 10, 3), 50, np.uint8))
    write_png(cub / "images" / "002.Wren" / "wren_1.png", np.full((10, 10, 3), 90, np.uint8))
    write_png(cub / "images" / "002.Wren" / "wren_2.png", np.full((10, 10, 3), 90, np.uint8))
    write_png(cub / "images" / "002.Wren" / "wren_3.png", np.full((10, 10, 3), 90, np.uint8))
    (cub / "text" / "001.Albatross").mkdir(parents=True)
    (cub / "text" / "002.Wren").mkdir(parents=True)
    (cub / "text" / "001.Albatross" / "alb_1.txt").write_text("a large white bird\n\nlong wings\n")
    (cub / "text" / "002.Wren" / "wren_1.txt").write_text("a small brown bird\n")
    (cub / "text" / "002.Wren" / "wren_2.txt").write_text("\n  \n")
    summary = image_captions.main(["--text-files", str(cub), "--out", str(tmp_path / "d"), *IMAGE_ARGS])
    assert summary["skipped"] == {"empty caption": 1, "no caption file": 1}
    ds = BuiltDataset(tmp_path / "d")
    assert ds.label_vocab("class") == ["001.Albatross", "002.Wren"]
    assert ds.items[0]["captions"] == ["a large white bird", "long wings"]

    flowers = tmp_path / "flowers"  # Oxford-102: flat images, text grouped by class
    write_png(flowers / "jpg" / "image_00001.png", np.full((10, 10, 3), 10, np.uint8))
    (flowers / "text_c10" / "class_00077").mkdir(parents=True)
    (flowers / "text_c10" / "class_00077" / "image_00001.txt").write_text("pink petals\n")
    image_captions.main(["--text-files", str(flowers), "--images-subdir", "jpg", "--text-subdir", "text_c10",
                         "--out", str(tmp_path / "f"), *IMAGE_ARGS])
    assert BuiltDataset(tmp_path / "f").items[0]["labels"] == {"class": "class_00077"}


def test_unpaired_folders(image_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "horse2zebra"
    for folder, n in [("trainA", 3), ("trainB", 2), ("testA", 1), ("testB", 1)]:
        for i in range(n):
            write_png(root / folder / f"{i}.png", np.full((12, 12, 3), 40 * i, np.uint8))
    add_broken_files(root / "trainB", ".png")
    summary = image_folders.main(["--unpaired", str(root), "--out", str(tmp_path / "d"), *IMAGE_ARGS])
    assert summary["domains"] == {"A": 4, "B": 3} and summary["splits"] == {"test": 2, "train": 5}
    assert summary["skipped"] == {"empty file": 1, "unreadable image": 2}
    ds = BuiltDataset(tmp_path / "d")
    assert ds.meta["kind"] == "unpaired" and len(ds.indices("train", "B")) == 2
    assert ds.items[0]["captions"] == [] and ds.items[0]["domain"] == "A"
    with pytest.raises(ConfigError, match="trainA/ and trainB/"):
        image_folders.main(["--unpaired", str(image_root), "--out", str(tmp_path / "x")])


def test_labeled_folders(tmp_path: Path) -> None:
    root = tmp_path / "digits"
    for cls in ("seven", "two_a"):
        for i in range(3):
            write_png(root / cls / f"{i}.png", np.full((9, 9, 3), 20 * i, np.uint8))
    (root / "seven" / "bad.png").write_bytes(b"")
    summary = image_folders.main(["--labeled", str(root), "--out", str(tmp_path / "d"), *IMAGE_ARGS,
                                  "--val-fraction", "0.5"])
    assert summary["num_items"] == 6 and summary["skipped"] == {"empty file": 1}
    ds = BuiltDataset(tmp_path / "d")
    assert ds.meta["kind"] == "labeled" and ds.label_vocab("class") == ["seven", "two_a"]
    assert sum(ds.meta["splits"].values()) == 6 and set(ds.meta["splits"]) <= {"train", "val"}
    assert ds.items[3]["captions"] == ["two a"] and ds.label_ids(3).tolist() == [1]


def test_cli_one_line_errors_and_summary(video_root: Path, tmp_path: Path) -> None:
    script = str(ROOT / "datasets" / "video_captions.py")
    bad = subprocess.run([sys.executable, script, "--kinetics", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "not a directory" in bad.stderr
    table = tmp_path / "c.csv"
    table.write_text("path,caption\nlong.mp4,fade\ntext.mp4,bad\n")
    ok = subprocess.run([sys.executable, script, "--captions", str(table), "--root", str(video_root),
                         "--out", str(tmp_path / "o"), *VIDEO_ARGS], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "built 1 items" in ok.stdout and "1 x unreadable video" in ok.stdout
