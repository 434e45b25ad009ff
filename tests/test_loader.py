"""CaptionedDataset: item format, batched path, mismatched captions, workers, accelerate sharding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from t2v.data.format import BuiltDataset, DatasetWriter
from t2v.data.loader import CaptionedDataset, collate, make_loader, normalize_pixels
from t2v.errors import ConfigError, DatasetError

SHAPE = (3, 4, 5, 3)
COLORS = ["red", "blue", "green"]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 clips, label color = i % 3, 2 captions each; items 20..23 are in 'val'; item 5 has no caption."""
    out = tmp_path_factory.mktemp("data") / "video"
    rng = np.random.default_rng(0)
    w = DatasetWriter(out, "video", SHAPE, labels={"color": COLORS, "size": ["big", "small"]})
    for i in range(24):
        caps = [] if i == 5 else [f"a {COLORS[i % 3]} thing {i}", f"{COLORS[i % 3]} number {i}"]
        w.add(rng.integers(0, 256, SHAPE, dtype=np.uint8), caps, {"color": COLORS[i % 3], "size": "big"},
              split="val" if i >= 20 else "train")
    w.close(num_previews=0)
    return out


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "unpaired"
    w = DatasetWriter(out, "unpaired", (6, 7, 3))
    for i in range(8):
        w.add(np.full((6, 7, 3), 30 * i, np.uint8), [], split="train", domain="AB"[i % 2])
    w.close(num_previews=0)
    return out


def test_video_item(video_dir: Path) -> None:
    ds = CaptionedDataset(video_dir)
    raw = BuiltDataset(video_dir)
    assert len(ds) == 20
    item = ds[7]
    assert item["pixels"].shape == (3, 3, 4, 5) and item["pixels"].dtype == torch.float32
    assert item["pixels"].min() >= -1 and item["pixels"].max() <= 1
    expected = torch.from_numpy(np.array(raw.pixels[7])).permute(3, 0, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(item["pixels"], expected)
    assert item["caption"] in raw.items[7]["captions"]
    assert item["labels"].tolist() == [1, 0] and item["labels"].dtype == torch.int64
    assert item["index"] == 7 and "mismatched_caption" not in item
    assert ds[5]["caption"] == ""
    assert CaptionedDataset(video_dir, split="val")[0]["index"] == 20
    assert CaptionedDataset(video_dir, split=None).idx.tolist() == list(range(24))


def test_image_item_and_domain(image_dir: Path) -> None:
    ds = CaptionedDataset(image_dir, domain="B")
    assert ds.idx.tolist() == [1, 3, 5, 7]
    item = ds[1]
    assert item["pixels"].shape == (3, 6, 7) and item["caption"] == "" and item["labels"].shape == (0,)
    torch.testing.assert_close(item["pixels"], torch.full((3, 6, 7), 90 / 127.5 - 1))
    with pytest.raises(DatasetError, match="no items in split='test'.*'train'"):
        CaptionedDataset(image_dir, split="test")
    with pytest.raises(DatasetError, match="no captions"):
        CaptionedDataset(image_dir, mismatched=True)


def test_mismatched_caption_has_other_labels(video_dir: Path) -> None:
    ds = CaptionedDataset(video_dir, mismatched=True)
    owner = {c: it["labels"]["color"] for it in ds.ds.items for c in it["captions"]}
    batch = ds.__getitems__(list(range(len(ds))) * 20).batch
    for k, cap in zip(list(range(len(ds))) * 20, batch["mismatched_caption"]):
        assert cap and owner[cap] != COLORS[k % 3]
    drawn = {c for c in batch["mismatched_caption"] if owner[c] != "red"}
    assert len(drawn) > 20  # draws spread over the other items, not one fixed partner


def _grid_dataset(path: Path) -> Path:
    """36 items over (place, action, facing) = 3 x 3 x 2 combos; captions name place and action, and only some
    name the facing, so items that differ in facing alone share two caption texts."""
    w = DatasetWriter(path, "image", (4, 4, 3), labels={"place": ["snow", "sea", "sand"],
                                                        "action": ["golf", "jog", "swim"], "facing": ["left", "right"]})
    for i in range(36):
        place, action, facing = ["snow", "sea", "sand"][i % 3], ["golf", "jog", "swim"][i // 3 % 3], \
            ["left", "right"][i // 9 % 2]
        w.add(np.zeros((4, 4, 3), np.uint8), [f"{action} on {place}", f"a person: {action}, {place}",
                                              f"{action} on {place} facing {facing}"],
              {"place": place, "action": action, "facing": facing}, split="train")
    w.close(num_previews=0)
    return path


def test_mismatched_caption_is_never_an_own_caption(tmp_path: Path) -> None:
    ds = CaptionedDataset(_grid_dataset(tmp_path / "g"), mismatched=True)
    ks = list(range(len(ds))) * 30
    batch = ds.__getitems__(ks).batch
    for k, cap in zip(ks, batch["mismatched_caption"]):
        assert cap not in ds.ds.items[k]["captions"]


def test_hard_negatives_differ_in_one_label(tmp_path: Path) -> None:
    root = _grid_dataset(tmp_path / "g")
    owner: dict[str, set] = {}
    for it in BuiltDataset(root).items:
        for c in it["captions"]:
            owner.setdefault(c, set()).add(tuple(it["labels"].values()))
    ks = list(range(36)) * 30

    def label_distance(ds: CaptionedDataset) -> np.ndarray:
        batch = ds.__getitems__(ks).batch
        out = []
        for k, cap in zip(ks, batch["mismatched_caption"]):
            mine = tuple(ds.ds.items[k]["labels"].values())
            assert cap not in ds.ds.items[k]["captions"]
            out.append(min(sum(a != b for a, b in zip(mine, other)) for other in owner[cap]))
        return np.array(out)

    hard = label_distance(CaptionedDataset(root, mismatched=True, hard_negatives=1.0))
    assert (hard == 1).all()  # every wrong caption is one label off (same place, other action, ...)
    mixed = label_distance(CaptionedDataset(root, mismatched=True, hard_negatives=0.5))
    plain = label_distance(CaptionedDataset(root, mismatched=True))
    # one label off, by the nearest owner of the caption text (measured: random 0.42, half hard 0.71, all hard 1.0)
    assert (plain == 1).mean() < 0.55 and (mixed == 1).mean() > (plain == 1).mean() + 0.15
    with pytest.raises(ConfigError, match="hard_negatives"):
        CaptionedDataset(root, hard_negatives=0.5)
    with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
        CaptionedDataset(root, mismatched=True, hard_negatives=1.5)


def test_mismatched_without_labels_uses_other_captions(tmp_path: Path) -> None:
    w = DatasetWriter(tmp_path / "d", "image", (2, 2, 3))
    for i in range(4):
        w.add(np.zeros((2, 2, 3), np.uint8), [f"cap {i % 2}"], split="train")
    w.close(num_previews=0)
    ds = CaptionedDataset(tmp_path / "d", mismatched=True)
    for k in range(4):
        assert ds[k]["mismatched_caption"] != ds[k]["caption"]
    w = DatasetWriter(tmp_path / "same", "video", SHAPE, labels={"color": COLORS})
    for i in range(3):
        w.add(np.zeros(SHAPE, np.uint8), [f"x {i}"], {"color": "red"}, split="train")
    w.close(num_previews=0)
    with pytest.raises(DatasetError, match="same labels"):
        CaptionedDataset(tmp_path / "same", mismatched=True)


def test_batched_path_matches_per_item(video_dir: Path) -> None:
    ds = CaptionedDataset(video_dir, mismatched=True)
    ks = [3, 0, 11, 3]
    got = ds.__getitems__(ks)
    batch = collate(got)
    assert batch["pixels"].shape == (4, 3, 3, 4, 5) and batch["pixels"].is_contiguous()
    torch.testing.assert_close(batch["pixels"], torch.stack([ds[k]["pixels"] for k in ks]))
    assert batch["index"].tolist() == ks and batch["labels"].shape == (4, 2)
    default = torch.utils.data.default_collate(list(got))
    torch.testing.assert_close(default["pixels"], batch["pixels"])
    assert default["caption"] == batch["caption"]
    raw = CaptionedDataset(video_dir, uint8=True).__getitems__(ks).batch["pixels"]
    assert raw.dtype == torch.uint8
    torch.testing.assert_close(normalize_pixels(raw), batch["pixels"])


def test_captions_reproducible_under_manual_seed(video_dir: Path) -> None:
    def captions() -> list[str]:
        torch.manual_seed(5)
        ds = CaptionedDataset(video_dir, mismatched=True, seed=1)
        return [ds[k]["caption"] + ds[k]["mismatched_caption"] for k in range(len(ds)) if k != 5]

    first = captions()
    assert first == captions()
    assert len({c.split(" ")[-1] for c in first}) > 1  # both captions of items get used


@pytest.mark.parametrize("num_workers", [0, 1])
def test_dataloaders(video_dir: Path, num_workers: int) -> None:
    ds = CaptionedDataset(video_dir, mismatched=True)
    plain = DataLoader(ds, batch_size=8, num_workers=num_workers)  # default collate, __getitems__ path
    seen = []
    for batch in plain:
        assert batch["pixels"].shape[1:] == (3, 3, 4, 5) and len(batch["mismatched_caption"]) == len(batch["index"])
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(20))
    fast = make_loader(ds, batch_size=6, num_workers=num_workers, seed=3)
    batches = list(fast)
    assert len(batches) == 3 and all(b["pixels"].shape[0] == 6 for b in batches)
    assert [b["index"].tolist() for b in batches] == [b["index"].tolist() for b in make_loader(ds, 6, seed=3)]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_deferred_pixels_are_read_by_the_consumer(video_dir: Path, num_workers: int) -> None:
    """defer_pixels: workers send memmap rows; load_pixels gives the same pixels as the eager path."""
    eager = CaptionedDataset(video_dir, mismatched=True)
    lazy = CaptionedDataset(video_dir, mismatched=True, defer_pixels=True)
    for batch in make_loader(lazy, batch_size=6, num_workers=num_workers, seed=3):
        assert "pixels" not in batch and batch["pixel_rows"].dtype == torch.int64
        assert len(batch["mismatched_caption"]) == 6
        full = lazy.load_pixels(batch, "cpu")
        assert "pixel_rows" not in full and full["caption"] == batch["caption"]
        assert full["pixels"].dtype == torch.float32 and full["pixels"].shape == (6, 3, 3, 4, 5)
        want = torch.stack([eager[k]["pixels"] for k in batch["index"].tolist()])
        torch.testing.assert_close(full["pixels"], want)
        assert lazy.load_pixels(full) is full  # already loaded: unchanged
    item = lazy[7]
    assert "pixels" not in item
    torch.testing.assert_close(lazy.load_pixels(item)["pixels"], eager[7]["pixels"])
    raw = CaptionedDataset(video_dir, uint8=True, defer_pixels=True)
    u8 = raw.load_pixels(raw.__getitems__([3, 0]).batch)["pixels"]
    assert u8.dtype == torch.uint8
    torch.testing.assert_close(normalize_pixels(u8), torch.stack([eager[3]["pixels"], eager[0]["pixels"]]))


def test_accelerate_sharding(video_dir: Path) -> None:
    from accelerate.data_loader import prepare_data_loader

    ds = CaptionedDataset(video_dir)
    shards = []
    for rank in range(2):
        dl = prepare_data_loader(DataLoader(ds, batch_size=5), num_processes=2, process_index=rank,
                                 put_on_device=False)
        shards.append([i for b in dl for i in b["index"].tolist()])
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(20))


def test_single_process_accelerator_prepare(video_dir: Path) -> None:
    from accelerate import Accelerator

    loader = Accelerator(cpu=True).prepare(make_loader(CaptionedDataset(video_dir, mismatched=True), 4))
    batch = next(iter(loader))
    assert batch["pixels"].shape == (4, 3, 3, 4, 5) and len(batch["caption"]) == 4
