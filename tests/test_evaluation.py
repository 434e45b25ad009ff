"""Attribute classifier and generator evaluation on a tiny synthetic dataset (label = colour and side of a square)."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from t2v.data.format import BuiltDataset, DatasetWriter
from t2v.errors import T2VError, run_cli
from t2v.evaluation import (
    AttributeClassifier, ClassifierConfig, classify, diversity, evaluate_pipeline, load_classifier, mean_pairwise_l1,
)
from t2v.evaluation.__main__ import main

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 230)}
SIDES = ["left", "right"]
PER_COMBO = 10
K = 3  # samples per caption


def make_dataset(path: Path, colours: dict = COLOURS, seed: int = 0) -> Path:
    """8x16x16 clips: a coloured square drifting on one half of a noisy grey background; 10 clips per combination.

    Heldout = all (blue, right) clips plus three of every other combination; val = two, train = five of those.
    """
    rng = np.random.default_rng(seed)
    labels = {"colour": list(colours), "side": SIDES}
    w = DatasetWriter(path, "video", (8, 16, 16, 3), labels=labels, meta={"caption_labels": ["colour", "side"]})
    for colour, rgb in colours.items():
        for side in SIDES:
            for j in range(PER_COMBO):
                clip = rng.integers(70, 110, (8, 16, 16, 3)).astype(np.uint8)
                x0 = int(rng.integers(0, 3)) + (0 if side == "left" else 8)
                y0 = int(rng.integers(0, 8))
                for t in range(8):
                    y = (y0 + t // 2) % 11
                    clip[t, y : y + 5, x0 : x0 + 5] = rgb
                heldout = (colour, side) == ("blue", "right")
                split = "heldout" if heldout or j < 3 else "val" if j < 5 else "train"
                captions = [f"a {colour} square on the {side}", f"{colour} block, {side} half"]
                w.add(clip, captions, {"colour": colour, "side": side}, split=split)
    w.close(num_previews=0)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds") / "squares")


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Train through the CLI once for the module; returns the classifier dir and the printed JSON."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("clf") / "squares"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["train-classifier", "--dataset", str(data), "--out", str(out), "--steps", "60",
                     "--batch-size", "16", "--width", "8", "--threads", "1"]) == 0
    return out, json.loads(buf.getvalue())


class FakePipeline:
    """Stands in for t2v.pipelines: `frames_for(caption, k)` gives K clips for one caption."""

    def __init__(self, frames_for) -> None:
        self.frames_for = frames_for
        self.calls: list[tuple[list[str], int, int]] = []

    def __call__(self, captions: list[str], num_samples: int = 1, seed: int = 0, batch_size: int = 16,
                 truncation: float = 1.0):
        self.calls.append((list(captions), num_samples, seed))
        frames = np.concatenate([self.frames_for(c, num_samples) for c in captions])
        return types.SimpleNamespace(frames=frames)


def real_clips_pipeline(data: Path) -> FakePipeline:
    ds = BuiltDataset(data)

    def frames_for(caption: str, k: int) -> np.ndarray:
        idx = [it["index"] for it in ds.items if caption in it["captions"] and it["split"] == "heldout"]
        return np.asarray(ds.pixels[[idx[i % len(idx)] for i in range(k)]])

    return FakePipeline(frames_for)


def test_train_classifier_cli(trained: tuple[Path, dict]) -> None:
    out, printed = trained
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["accuracy"] == printed["accuracy"]
    assert json.loads((out / "config.json").read_text())["labels"] == {"colour": list(COLOURS), "side": SIDES}
    assert printed["heldback_items"] == {"heldout": 5, "train": 5, "val": 2}  # 20% of 25, 25 and 10 clips
    assert printed["train_items"] == 60 - 12
    for split in ("val", "heldout"):
        for label in ("colour", "side"):
            assert printed["accuracy"][split][label] >= 0.85, printed["accuracy"]  # chance: 1/3 and 1/2


def test_saved_classifier_reproduces_metrics(trained: tuple[Path, dict], data: Path) -> None:
    from t2v.evaluation.train import evaluate_heldback, holdback_split

    out, printed = trained
    clf = load_classifier(out)
    ds = BuiltDataset(data)
    _, held = holdback_split(ds, printed["holdback"], printed["seed"])
    assert evaluate_heldback(clf, ds, held) == printed["accuracy"]


def test_save_load_round_trip_identical_predictions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = ClassifierConfig(kind="video", frames=8, size=[16, 16], labels={"a": ["x", "y", "z"], "b": ["p", "q"]}, width=8)
    model = AttributeClassifier(cfg)
    clips = np.random.default_rng(0).integers(0, 256, (6, 8, 16, 16, 3), dtype=np.uint8)
    model.train()(model.prepare(clips))  # move BatchNorm statistics away from their defaults
    model.eval()
    model.save_pretrained(tmp_path / "clf")
    loaded = load_classifier(tmp_path / "clf")
    with torch.no_grad():
        a, b = model(model.prepare(clips)), loaded(loaded.prepare(clips))
    for name in a:
        assert torch.equal(a[name], b[name])
    pa, pb = classify(model, clips, batch_size=4), classify(loaded, clips)
    assert set(pa) == {"a", "b"} and all(np.array_equal(pa[n], pb[n]) for n in pa)
    # A differently sized input (e.g. a generator at another resolution / length) is resized, not refused.
    assert classify(loaded, clips[:, :4, :12, :12])["a"].shape == (6,)


def test_image_classifier_shapes(tmp_path: Path) -> None:
    cfg = ClassifierConfig(kind="image", frames=1, size=[32, 32], labels={"digit": [str(i) for i in range(10)]}, width=8)
    model = AttributeClassifier(cfg).eval()
    images = np.zeros((5, 32, 32, 3), np.uint8)
    preds = classify(model, images)
    assert preds["digit"].shape == (5,) and preds["digit"].dtype == np.int64
    with pytest.raises(T2VError, match="judges"):
        classify(model, np.zeros((5, 4, 32, 32, 3), np.uint8))


def test_evaluate_real_clips_reach_the_ceiling(trained: tuple[Path, dict], data: Path) -> None:
    out, _ = trained
    pipe = real_clips_pipeline(data)
    result = evaluate_pipeline(pipe, load_classifier(out), data, split="heldout", samples_per_caption=K, seed=5)
    # heldout: 10 (blue, right) clips + 3 of each of the other 5 combinations.
    assert result["num_captions"] == 6 and result["num_generated"] == 6 * K and result["num_real"] == 25
    assert result["captioned_labels"] == ["colour", "side"]
    assert pipe.calls[0][1:] == (K, 5)
    assert pipe.calls[0][0][0] == "a red square on the left"  # first caption of the first item of the combination
    assert result["accuracy"]["all"] >= 0.9
    assert result["accuracy"] == pytest.approx(result["real_accuracy"], abs=0.1)
    for entry in result["per_caption"]:
        if entry["real_clips"] == K:  # same clips as the real ones: same accuracy and diversity
            assert entry["diversity"] == entry["real_diversity"] > 0
        # what the judge read, per label of the caption: counts over the K clips, the caption's own value among them
        assert set(entry["predicted"]) == set(entry["labels"])
        for name, counts in entry["predicted"].items():
            assert sum(counts.values()) == K and list(counts.values()) == sorted(counts.values(), reverse=True)
            assert counts.get(entry["labels"][name], 0) / K >= entry["accuracy"]
    json.dumps(result)


def test_evaluate_noise_scores_low(trained: tuple[Path, dict], data: Path) -> None:
    out, _ = trained
    rng = np.random.default_rng(0)
    pipe = FakePipeline(lambda c, k: rng.integers(0, 256, (k, 8, 16, 16, 3), dtype=np.uint8))
    result = evaluate_pipeline(pipe, load_classifier(out), data, split="val", samples_per_caption=K)
    assert result["num_captions"] == 5
    assert result["accuracy"]["all"] <= 0.5 < result["real_accuracy"]["all"]
    assert result["diversity"] > 0.2  # uniform noise: E|a-b| = 1/3


def test_diversity_zero_for_identical_clips(trained: tuple[Path, dict], data: Path) -> None:
    clip = np.asarray(BuiltDataset(data).pixels[0])
    pipe = FakePipeline(lambda c, k: np.repeat(clip[None], k, axis=0))
    result = evaluate_pipeline(pipe, load_classifier(trained[0]), data, split="heldout", samples_per_caption=K)
    assert result["diversity"] == 0.0
    assert diversity(np.repeat(clip[None], 4, axis=0), 2) == 0.0
    assert mean_pairwise_l1(np.stack([np.zeros_like(clip), np.full_like(clip, 255)])) == pytest.approx(1.0)
    assert mean_pairwise_l1(clip[None]) is None


def test_rerank_needs_a_pipeline_that_reranks(trained: tuple[Path, dict], data: Path) -> None:
    with pytest.raises(T2VError, match="rerank: FakePipeline does not rerank its samples"):
        evaluate_pipeline(real_clips_pipeline(data), load_classifier(trained[0]), data, samples_per_caption=K, rerank=4)


def test_evaluate_cli_with_pipeline_writes_json(trained: tuple[Path, dict], data: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    fake = types.ModuleType("t2v.pipelines")
    fake.load_pipeline = lambda model_dir, device="cpu": real_clips_pipeline(data)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "t2v.pipelines", fake)
    (tmp_path / "model").mkdir()
    report = tmp_path / "eval" / "heldout.json"
    assert main(["evaluate", "--model", str(tmp_path / "model"), "--classifier", str(trained[0]), "--dataset",
                 str(data), "--split", "heldout", "--samples-per-caption", "2", "--out", str(report)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(report.read_text()) == printed
    assert printed["samples_per_caption"] == 2 and printed["num_generated"] == 12


def test_label_mismatch_is_an_error(trained: tuple[Path, dict], tmp_path: Path) -> None:
    other = make_dataset(tmp_path / "other", colours={"red": (220, 30, 30), "yellow": (230, 230, 20)})
    pipe = FakePipeline(lambda c, k: np.zeros((k, 8, 16, 16, 3), np.uint8))
    with pytest.raises(T2VError, match="vocabulary for 'colour'"):
        evaluate_pipeline(pipe, load_classifier(trained[0]), other, split="heldout")
    assert not pipe.calls  # checked before anything is generated


@pytest.mark.parametrize("argv, message", [
    (["train-classifier", "--dataset", "{tmp}/nope", "--out", "{tmp}/c"], "no built dataset"),
    (["evaluate", "--model", "{tmp}", "--classifier", "{tmp}/nope", "--dataset", "{data}"], "no attribute classifier"),
    (["evaluate", "--model", "{tmp}/nope", "--classifier", "{clf}", "--dataset", "{data}"], "nope"),
    (["evaluate", "--model", "{tmp}", "--classifier", "{tmp}", "--dataset", "{data}", "--split", "test"], "no items in split"),
    # an --out that cannot be written is refused before the model is even looked for, not after the judging
    (["evaluate", "--model", "{tmp}/nope", "--classifier", "{clf}", "--dataset", "{data}", "--out", "{clf}"],
     "not a writable file path"),
])
def test_cli_errors_are_one_line(argv: list[str], message: str, data: Path, trained: tuple[Path, dict],
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    argv = [a.format(tmp=tmp_path, data=data, clf=trained[0]) for a in argv]
    monkeypatch.setattr(sys, "argv", ["t2v.evaluation", *argv])
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


def test_caption_groups_score_only_labels_the_caption_determines(tmp_path: Path) -> None:
    from t2v.evaluation.metrics import caption_groups

    w = DatasetWriter(tmp_path / "d", "video", (2, 4, 4, 3), labels={"colour": list(COLOURS), "side": SIDES})
    combos = [("red", "left"), ("red", "right"), ("blue", "right"), ("red", "left"), ("blue", "left")]
    for i, (colour, side) in enumerate(combos):
        pixels = np.full((2, 4, 4, 3), i, np.uint8)
        w.add(pixels, [f"a {colour} square", f"a {colour} square on the {side}"], {"colour": colour, "side": side},
              split="train" if i == 4 else "heldout")
    w.close(num_previews=0)
    groups = caption_groups(BuiltDataset(tmp_path / "d"), "heldout", ["colour", "side"])
    # "a red square" prompts both red combinations; it says nothing about the side (items of every split count).
    assert [(g["caption"], g["labels"], g["targets"].tolist(), g["indices"]) for g in groups] == [
        ("a red square", {"colour": "red"}, [0, -1], [0, 1, 3]),
        ("a blue square", {"colour": "blue"}, [2, -1], [2]),
    ]


def test_exchangeable_objects_are_scored_as_a_set() -> None:
    from t2v.evaluation.metrics import align_slots, object_slots, score
    from t2v.evaluation.train import label_loss

    vocab = {"obj1_shape": ["circle", "square"], "obj1_colour": ["red", "blue"],
             "obj2_shape": ["circle", "square"], "obj2_colour": ["red", "blue"]}
    slots = object_slots(vocab)
    assert slots == [["obj1_shape", "obj1_colour"], ["obj2_shape", "obj2_colour"]]
    assert object_slots({**vocab, "obj2_colour": ["red", "green"]}) == []
    assert object_slots({"shape": ["circle"], "colour": ["red"]}) == []
    targets = {"obj1_shape": np.array([0, 0]), "obj1_colour": np.array([0, 0]),
               "obj2_shape": np.array([1, 1]), "obj2_colour": np.array([1, 1])}
    # Sample 0 is predicted in the builder's order, sample 1 with the objects swapped.
    preds = {"obj1_shape": np.array([0, 1]), "obj1_colour": np.array([0, 1]),
             "obj2_shape": np.array([1, 0]), "obj2_colour": np.array([1, 0])}
    assert all(np.array_equal(align_slots(preds, targets, slots)[n], targets[n]) for n in targets)
    assert score(preds, targets, slots)["all"] == 1.0
    assert score(preds, targets, [])["all"] == 0.5

    names = list(vocab)
    logits = {n: torch.randn(2, 2) for n in names}
    y = torch.from_numpy(np.stack([targets[n] for n in names], 1))
    swapped = {"obj1_shape": logits["obj2_shape"], "obj1_colour": logits["obj2_colour"],
               "obj2_shape": logits["obj1_shape"], "obj2_colour": logits["obj1_colour"]}
    assert torch.allclose(label_loss(logits, y, names, slots), label_loss(swapped, y, names, slots))
    assert label_loss(logits, y, names, slots) <= label_loss(logits, y, names, []) + 1e-6


def _result(rows: list[tuple[dict, dict]]) -> dict:
    return {"captioned_labels": ["shape", "size"],
            "per_caption": [{"caption": "c", "labels": lab, "predicted": pred} for lab, pred in rows]}


def test_confusion_counts_and_splits_by_another_label(tmp_path: Path, capsys) -> None:
    """The table counts the judge's readings per captioned class, and --by splits them by another label: a model
    that draws every large object round shows it, where the pooled table only shows a weak square row."""
    from t2v.evaluation.confusion import confusion, format_confusion

    res = _result([
        ({"shape": "square", "size": "large"}, {"shape": {"circle": 4}, "size": {"large": 4}}),
        ({"shape": "square", "size": "small"}, {"shape": {"square": 3, "circle": 1}, "size": {"small": 4}}),
        ({"shape": "circle", "size": "large"}, {"shape": {"circle": 4}, "size": {"large": 4}}),
    ])
    pooled = confusion(res, "shape")
    assert pooled == {"all": {"square": {"circle": 5, "square": 3}, "circle": {"circle": 4}}}
    split = confusion(res, "shape", by="size")
    assert split["large"]["square"] == {"circle": 4} and split["small"]["square"] == {"square": 3, "circle": 1}
    text = format_confusion(split, "shape", "size")
    assert "| size = large: shape (captioned) \\ judged | circle | square | right | clips |" in text
    assert "| square | 100% | 0% | 0.0% | 4 |" in text and "| square | 25% | 75% | 75.0% | 4 |" in text

    path = tmp_path / "r.json"
    path.write_text(json.dumps(res))
    assert main(["confusion", str(path), "--label", "shape"]) == 0
    assert "| square | 62% | 38% | 37.5% | 8 |" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--label", "motion"], "unknown label 'motion'; this result has shape, size"),
    (["--label", "shape", "--by", "place"], "unknown label 'place'"),
])
def test_confusion_errors(argv: list[str], message: str, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_result([({"shape": "circle", "size": "large"}, {"shape": {"circle": 1}})])))
    with pytest.raises(T2VError, match=message):
        main(["confusion", str(path), *argv])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(T2VError, match="cannot read"):
        main(["confusion", str(tmp_path / "bad.json"), "--label", "shape"])
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(T2VError, match="no per_caption rows"):
        main(["confusion", str(tmp_path / "empty.json"), "--label", "shape"])
