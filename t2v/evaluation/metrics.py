"""Judge a generator with an attribute classifier: label accuracy of generated clips, the real-clip ceiling, diversity.

Captions: the split's items are grouped by the values of the *captioned* labels (meta "caption_labels" when the
builder names them, otherwise every label); each group is prompted with the first caption of its first item (in
dataset order). Only captioned labels are scored, since the caption does not determine the others.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, T2VError

_SLOT = re.compile(r"^obj(\d+)_(.+)$")


def open_dataset(dataset: Any) -> Any:
    """A BuiltDataset from a directory path (raises DatasetError when missing/corrupt), or the object itself."""
    if isinstance(dataset, (str, Path)):
        from ..data.format import BuiltDataset

        return BuiltDataset(dataset)
    return dataset


def label_accuracy(preds: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> dict[str, float]:
    """Fraction correct per label (targets < 0 are unknown and skipped) and "all": every known label right at once."""
    out: dict[str, float] = {}
    for name, target in targets.items():
        known = np.asarray(target) >= 0
        if known.any():
            out[name] = round(float((np.asarray(preds[name]) == target)[known].mean()), 4)
    if out:
        out["all"] = round(float(all_correct(preds, targets).mean()), 4)
    return out


def object_slots(labels: dict[str, list[str]]) -> list[list[str]]:
    """Exchangeable objects: labels obj1_<attr>, obj2_<attr>, ... with equal attributes and vocabularies.

    Returns one list of label names per object (same attribute order), or [] when there are not two such objects.
    Which object a builder calls obj1 need not be visible in the pixels, so such labels are scored as a set.
    """
    objects: dict[int, dict[str, str]] = {}
    for name in labels:
        m = _SLOT.match(name)
        if m:
            objects.setdefault(int(m[1]), {})[m[2]] = name
    if len(objects) < 2:
        return []
    slots = [objects[k] for k in sorted(objects)]
    attrs = list(slots[0])
    if any(list(s) != attrs or any(labels[s[a]] != labels[slots[0][a]] for a in attrs) for s in slots):
        return []
    return [[s[a] for a in attrs] for s in slots]


def align_slots(preds: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                slots: list[list[str]]) -> dict[str, np.ndarray]:
    """Per sample, reorder the objects' predictions to the object order that matches the known targets best."""
    if not slots:
        return preds
    n = len(next(iter(preds.values())))
    missing = np.full(n, -1)
    tgt = [[np.asarray(targets.get(name, missing)) for name in slot] for slot in slots]
    perms = list(itertools.permutations(range(len(slots))))
    score = np.stack([
        sum(((preds[slots[p[i]][a]] == tgt[i][a]) & (tgt[i][a] >= 0)).astype(int)
            for i in range(len(slots)) for a in range(len(slots[i])))
        for p in perms
    ])
    best = score.argmax(0)
    out = dict(preds)
    for i, slot in enumerate(slots):
        for a, name in enumerate(slot):
            out[name] = np.choose(best, [preds[slots[p[i]][a]] for p in perms])
    return out


def score(preds: dict[str, np.ndarray], targets: dict[str, np.ndarray], slots: list[list[str]]) -> dict[str, float]:
    """label_accuracy after aligning exchangeable objects."""
    return label_accuracy(align_slots(preds, targets, slots), targets)


def candidate_labels(meta: dict[str, Any], label_names: list[str]) -> list[str]:
    """Labels a caption may determine: meta["caption_labels"] when the builder names them, else all labels."""
    named = meta.get("caption_labels")
    if not named:
        return list(label_names)
    unknown = [n for n in named if n not in label_names]
    if unknown:
        raise DatasetError(f"meta.json caption_labels names {unknown} that are not labels ({label_names})")
    return list(named)


def caption_groups(ds: Any, split: str, labels: list[str]) -> list[dict[str, Any]]:
    """The prompts of `split`: for each distinct label combination the first caption of its first item; combinations
    that share that caption share one entry. A label counts as determined by a caption when every item of the whole
    dataset that has this caption agrees on it; the others get target -1 (not scored).

    Entries: caption, labels {name: value} (determined ones), targets int64 [len(labels)], indices (split items).
    """
    ids = ds.all_label_ids
    prompt_of: dict[tuple[int, ...], str] = {}
    members: dict[str, list[int]] = {}
    for i in ds.indices(split=split):
        caption = prompt_of.setdefault(tuple(ids[i]), ds.items[int(i)]["captions"][0])
        members.setdefault(caption, []).append(int(i))
    carriers: dict[str, list[int]] = {c: [] for c in members}
    for item in ds.items:
        for c in set(item["captions"]) & carriers.keys():
            carriers[c].append(item["index"])
    cols = [ds.label_names.index(n) for n in labels]
    groups = []
    for caption, indices in members.items():
        values = ids[carriers[caption]][:, cols]
        targets = np.where((values == values[0]).all(0) & (values[0] >= 0), values[0], -1)
        named = {n: ds.label_vocab(n)[t] for n, t in zip(labels, targets) if t >= 0}
        groups.append({"caption": caption, "labels": named, "targets": targets, "indices": indices})
    return groups


def mean_pairwise_l1(clips: np.ndarray) -> float | None:
    """Mean L1 distance (pixels in [0, 1]) over all pairs of clips; None for fewer than two."""
    n = len(clips)
    if n < 2:
        return None
    flat = np.asarray(clips).reshape(n, -1).astype(np.float32) / 255.0
    dists = [np.abs(flat[i] - flat[j]).mean() for i in range(n) for j in range(i + 1, n)]
    return float(np.mean(dists))


def diversity(frames: np.ndarray, samples_per_caption: int) -> float | None:
    """Mean over captions of the pairwise L1 between the samples of one caption (caption-major frames)."""
    k = samples_per_caption
    per = [mean_pairwise_l1(frames[i : i + k]) for i in range(0, len(frames), k)]
    per = [p for p in per if p is not None]
    return round(float(np.mean(per)), 4) if per else None


def require_split(ds: Any, split: str) -> None:
    """The split must exist and hold items (its captions are the prompts)."""
    splits = [name for name, n in ds.meta.get("splits", {}).items() if n]
    if split not in splits:
        raise DatasetError(f"dataset {ds.path} has no items in split {split!r}; its splits are {splits}")


def check_labels(classifier: Any, ds: Any, labels: list[str]) -> None:
    """The classifier must have a head with the dataset's vocabulary for every scored label."""
    for name in labels:
        have = classifier.config.labels.get(name)
        if have is None:
            raise T2VError(
                f"classifier has no head for label {name!r} (it knows {list(classifier.config.labels)}); "
                f"train one on this dataset with `python -m t2v.evaluation train-classifier`"
            )
        if list(have) != list(ds.label_vocab(name)):
            raise T2VError(
                f"classifier vocabulary for {name!r} differs from the dataset's; "
                f"train one on this dataset with `python -m t2v.evaluation train-classifier`"
            )


def classify_items(classifier: Any, ds: Any, indices: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Predictions for dataset items, read from the memory map a batch at a time."""
    from .classifier import classify

    parts: dict[str, list[np.ndarray]] = {n: [np.zeros(0, np.int64)] for n in classifier.label_names}
    for start in range(0, len(indices), batch_size):
        for n, p in classify(classifier, ds.pixels[indices[start : start + batch_size]], batch_size).items():
            parts[n].append(p)
    return {n: np.concatenate(p) for n, p in parts.items()}


def all_correct(preds: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> np.ndarray:
    """bool [N]: every known target (>= 0) of the sample is predicted."""
    n = len(next(iter(preds.values())))
    ok = np.ones(n, bool)
    for name, target in targets.items():
        ok &= (np.asarray(preds[name]) == target) | (np.asarray(target) < 0)
    return ok


def evaluate_pipeline(
    pipe: Any,
    classifier: Any,
    dataset: Any,
    split: str = "heldout",
    samples_per_caption: int = 4,
    seed: int = 0,
    batch_size: int = 16,
    truncation: float = 1.0,
    rerank: int = 1,
    rerank_by: str = "text",
) -> dict[str, Any]:
    """Generate `samples_per_caption` clips per caption of `split` (latents scaled by `truncation`; with `rerank`
    R > 1, each the best of R by the model's own discriminator, scored by `rerank_by`, for pipelines that offer it)
    and judge them with `classifier`.

    Returns a JSON-able dict: accuracy of generated clips on the labels their captions determine, the same
    classifier's accuracy on the split's real clips (the ceiling; most of them were seen in training), diversity
    (mean pairwise L1 in [0, 1] between the samples of a caption) next to the real clips' value, counts, and
    per-caption details.
    """
    from .classifier import classify

    ds = open_dataset(dataset)
    require_split(ds, split)
    if samples_per_caption < 1:
        raise T2VError(f"--samples-per-caption must be at least 1, got {samples_per_caption}")
    labels = candidate_labels(ds.meta, ds.label_names)
    check_labels(classifier, ds, labels)
    slots = object_slots({n: ds.label_vocab(n) for n in labels})
    groups = caption_groups(ds, split, labels)
    captions = [g["caption"] for g in groups]
    k = samples_per_caption

    from ..pipelines.base import rerank_kwargs

    frames = np.asarray(pipe(captions, num_samples=k, seed=seed, batch_size=batch_size, truncation=truncation,
                             **rerank_kwargs(pipe, rerank, rerank_by)).frames)
    if len(frames) != len(captions) * k:
        raise T2VError(f"pipeline returned {len(frames)} samples for {len(captions)} captions x {k}")
    targets = {n: np.repeat([g["targets"][j] for g in groups], k) for j, n in enumerate(labels)}
    preds = align_slots(classify(classifier, frames), targets, slots)
    hits = all_correct(preds, targets)

    item_targets = np.full((len(ds.items), len(labels)), -1, np.int64)
    for g in groups:
        item_targets[g["indices"]] = g["targets"]
    real_idx = ds.indices(split=split)
    real_targets = {n: item_targets[real_idx, j] for j, n in enumerate(labels)}
    real_preds = classify_items(classifier, ds, real_idx)

    per_caption = []
    for gi, g in enumerate(groups):
        sl = slice(gi * k, (gi + 1) * k)
        gen_div = mean_pairwise_l1(frames[sl])
        real_div = mean_pairwise_l1(ds.pixels[np.asarray(g["indices"][:k])])
        predicted = {}  # what the judge saw in this caption's clips, per label the caption determines
        for j, n in enumerate(labels):
            if g["targets"][j] >= 0:
                values, counts = np.unique(np.asarray(preds[n][sl]), return_counts=True)
                vocab = ds.label_vocab(n)
                predicted[n] = {vocab[v]: int(c) for c, v in sorted(zip(counts, values), key=lambda t: (-t[0], t[1]))}
        per_caption.append({
            "caption": g["caption"],
            "labels": g["labels"],
            "accuracy": round(float(hits[sl].mean()), 4),
            "predicted": predicted,
            "diversity": None if gen_div is None else round(gen_div, 4),
            "real_diversity": None if real_div is None else round(real_div, 4),
            "real_clips": len(g["indices"]),
        })
    real_divs = [p["real_diversity"] for p in per_caption if p["real_diversity"] is not None]
    return {
        "split": split,
        "captioned_labels": [n for n in labels if (targets[n] >= 0).any()],
        "num_captions": len(captions),
        "samples_per_caption": k,
        "num_generated": int(len(frames)),
        "num_real": int(len(real_idx)),
        "seed": seed,
        "truncation": truncation,
        "rerank": rerank,
        **({"rerank_by": rerank_by} if rerank > 1 else {}),
        "accuracy": label_accuracy(preds, targets),
        "real_accuracy": score(real_preds, real_targets, slots),
        "diversity": diversity(frames, k),
        "real_diversity": round(float(np.mean(real_divs)), 4) if real_divs else None,
        "per_caption": per_caption,
    }
