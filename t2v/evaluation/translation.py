"""Judge an unpaired translation model (CycleGAN) with attribute classifiers.

    python -m t2v.evaluation.translation evaluate --model runs/cyclegan_scenes/final --dataset data/scenes \
        --classifier data/classifiers/scenes --direction AtoB --split val heldout
    python -m t2v.evaluation.translation train-classifier --dataset data/digits_unpaired --select domain=B \
        --out data/classifiers/digits_handwritten

`evaluate` translates every source-domain item of the splits (clips frame by frame) and classifies the results.
When the target domain is a label value (e.g. place=snow) it reports how often that label is predicted ("target");
every other label the classifier knows must be kept ("kept": accuracy against the source item's labels). For
comparison it scores the untranslated source items ("before") and the real target-domain items of the split
("target_real", the classifier's ceiling). `train-classifier` trains the attribute classifier on one domain only
(a judge of the target domain, e.g. handwritten digits), with `t2v.evaluation.train_classifier`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import T2VError, run_cli
from .output import check_output_file, emit_json


def _score(preds: dict[str, np.ndarray], labels: np.ndarray, names: list[str], kept: list[str],
           target: tuple[str, str] | None, vocab: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if target is not None:
        out["target"] = round(float((preds[target[0]] == vocab[target[0]].index(target[1])).mean()), 4)
    for name in kept:
        truth = labels[:, names.index(name)]
        known = truth >= 0
        out[f"kept_{name}"] = round(float((preds[name][known] == truth[known]).mean()), 4) if known.any() else None
        # per source value: how often it was kept, and what it most often became when it was not
        per: dict[str, Any] = {}
        for v, value in enumerate(vocab[name]):
            rows = truth == v
            if rows.any():
                got = preds[name][rows]
                wrong = got[got != v]
                per[value] = {"kept": round(float((got == v).mean()), 4), "items": int(rows.sum()),
                              "else_mostly": vocab[name][int(np.bincount(wrong).argmax())] if wrong.size else None}
        out[f"kept_{name}_by_value"] = per
    return out


def evaluate_translation(pipe: Any, classifier: Any, ds: Any, direction: str, splits: list[str],
                         batch_size: int = 64) -> dict[str, Any]:
    """Per split: counts and the target / kept-label accuracies of translated, untranslated and real target items."""
    from ..data.domains import parse_selector, select_items
    from .classifier import classify
    from .metrics import check_labels

    src_sel, tgt_sel = (pipe.domains["A"], pipe.domains["B"]) if direction == "AtoB" else \
        (pipe.domains["B"], pipe.domains["A"])
    key, value = parse_selector(ds, tgt_sel)
    target = (key, value) if key != "domain" else None
    if target and target[0] not in classifier.label_names:
        raise T2VError(f"the classifier has no {target[0]!r} head; it cannot tell whether items became {tgt_sel}")
    kept = [n for n in classifier.label_names if n in ds.label_names and n != key]
    check_labels(classifier, ds, kept + ([key] if target else []))
    vocab = {n: ds.label_vocab(n) for n in ds.label_names}
    result: dict[str, Any] = {}
    for split in splits:
        idx = select_items(ds, src_sel, split)
        real_idx = select_items(ds, tgt_sel, split)
        if len(idx) == 0:
            raise T2VError(f"{ds.path} has no {src_sel!r} items in split {split!r}")
        preds: dict[str, list[np.ndarray]] = {n: [] for n in classifier.label_names}
        before: dict[str, list[np.ndarray]] = {n: [] for n in classifier.label_names}
        for start in range(0, len(idx), batch_size):
            px = np.asarray(ds.pixels[idx[start : start + batch_size]])
            for store, pixels in ((preds, pipe.translate(px, direction)), (before, px)):
                for n, p in classify(classifier, pixels, batch_size).items():
                    store[n].append(p)
        labels = ds.all_label_ids[idx]
        cat = {n: np.concatenate(v) for n, v in preds.items()}
        raw = {n: np.concatenate(v) for n, v in before.items()}
        entry = {"items": int(len(idx)), "translated": _score(cat, labels, ds.label_names, kept, target, vocab),
                 "before": _score(raw, labels, ds.label_names, kept, target, vocab)}
        if len(real_idx):
            from .metrics import classify_items

            real = classify_items(classifier, ds, real_idx, batch_size)
            entry["target_real"] = _score(real, ds.all_label_ids[real_idx], ds.label_names, kept, target, vocab)
            entry["target_real_items"] = int(len(real_idx))
        result[split] = entry
    return {"direction": direction, "source": src_sel, "target": tgt_sel, "kept_labels": kept, "splits": result}


def translation_strip(pipe: Any, ds: Any, direction: str, split: str, path: str | Path, by: str | None = None,
                      frames: int = 4, items: int = 6) -> dict[str, Any]:
    """A PNG to look at: one row per source item (the first item of each value of label `by`, else the first
    `items`), `frames` evenly spaced frames of it, then their translations, then (attention-guided generators) the
    masks, white where the generator drew. Returns the path and each row's `by` value."""
    from ..data.domains import select_items
    from ..data.video import save_image_grid

    src_sel = pipe.domains["A"] if direction == "AtoB" else pipe.domains["B"]
    idx = select_items(ds, src_sel, split)
    if len(idx) == 0:
        raise T2VError(f"{ds.path} has no {src_sel!r} items in split {split!r}")
    if by is not None:
        col = ds.label_names.index(by)
        ids = ds.all_label_ids[idx, col]
        picked = [int(idx[np.flatnonzero(ids == v)[0]]) for v in np.unique(ids[ids >= 0])][:items]
    else:
        picked = [int(i) for i in idx[:items]]
    attention = pipe.generators[direction].config.attention
    rows, names = [], []
    for i in picked:
        px = np.asarray(ds.pixels[i])
        if ds.kind == "video":
            px = px[np.linspace(0, len(px) - 1, min(frames, len(px))).round().astype(int)]
        else:
            px = px[None]
        if attention:
            out, mask = pipe.translate(px, direction, return_mask=True)
            rows.append(np.concatenate([px, out, np.repeat(mask[..., None], 3, axis=-1)]))
        else:
            rows.append(np.concatenate([px, pipe.translate(px, direction)]))
        names.append(ds.items[i]["labels"].get(by) if by is not None else ds.items[i]["captions"][0])
    save_image_grid(path, np.concatenate(rows), nrow=len(rows[0]))
    return {"path": str(path), "split": split, "rows": names,
            "columns": "source frames, translated" + (", mask (white = generated)" if attention else "")}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m t2v.evaluation.translation", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="translate a domain's items and judge them with an attribute classifier")
    e.add_argument("--model", required=True, help="exported translation model (ImageTranslationPipeline) directory")
    e.add_argument("--dataset", required=True, help="the built dataset the model was trained on")
    e.add_argument("--classifier", required=True, help="attribute classifier directory (judge of the target domain)")
    e.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    e.add_argument("--split", nargs="+", default=["test"], help="splits whose source-domain items are translated")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--out", help="also write the JSON here")
    e.add_argument("--strip", help="also write a PNG: one source item per value of the first kept label (first "
                   "split), some frames of it, their translations and, with attention, the generator's masks")
    t = sub.add_parser("train-classifier", help="train an attribute classifier on one domain of a dataset")
    t.add_argument("--dataset", required=True)
    t.add_argument("--select", required=True, help="the domain: domain=NAME or LABEL=VALUE")
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--width", type=int, default=16)
    t.add_argument("--holdback", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=0)
    for q in (e, t):
        q.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    import torch

    from ..data.format import BuiltDataset

    torch.set_num_threads(a.threads)
    ds = BuiltDataset(a.dataset)
    if a.command == "train-classifier":
        from ..data.domains import DomainView
        from .train import train_classifier

        result = train_classifier(DomainView(ds, a.select), a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
                                  seed=a.seed, holdback=a.holdback, width=a.width)
    else:
        from ..pipelines.translate import ImageTranslationPipeline
        from .classifier import load_classifier

        check_output_file(a.out, "--out")
        check_output_file(a.strip, "--strip")
        pipe = ImageTranslationPipeline.from_pretrained(a.model)
        result = {"model": a.model, "classifier": a.classifier, "dataset": a.dataset,
                  **evaluate_translation(pipe, load_classifier(a.classifier), ds, a.direction, a.split, a.batch_size)}
        if a.strip:
            by = result["kept_labels"][0] if result["kept_labels"] else None
            result["strip"] = translation_strip(pipe, ds, a.direction, a.split[0], a.strip, by=by)
    emit_json(result, getattr(a, "out", None) if a.command == "evaluate" else None)
    return 0


if __name__ == "__main__":
    run_cli(main)
