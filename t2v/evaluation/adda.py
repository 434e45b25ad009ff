"""Domain-adaptation accuracy of exported ADDA models: source-only vs adapted, on the target domain's test items.

    python -m t2v.evaluation.adda --model runs/adda_digits_s0/final [--model ...] --dataset data/digits_labeled

Prints JSON: per model the classifier's accuracy through the source encoder ("source_only") and through the adapted
target encoder ("adda") on the target items of `--split`, plus the source-domain accuracy; over several models
(seeds) the mean and the sample standard deviation of each, and of the gain.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from ..data.loader import normalize_pixels
from ..errors import DatasetError, T2VError, run_cli


@torch.no_grad()
def domain_accuracy(model: Any, ds: Any, selector: str, split: str, encoder: str, batch_size: int = 256) -> float:
    """Accuracy of `model(x, encoder)` on the `split` items of a domain, against the model's label."""
    from ..data.domains import select_items

    idx = select_items(ds, selector, split)
    if len(idx) == 0:
        raise DatasetError(f"{ds.path} has no {selector!r} items in split {split!r}")
    col = ds.label_names.index(model.config.label)
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        x = normalize_pixels(torch.from_numpy(np.asarray(ds.pixels[chunk])).permute(0, 3, 1, 2))
        pred = model(x.to(next(model.parameters()).device), encoder).argmax(1).cpu().numpy()
        correct += int((pred == ds.all_label_ids[chunk, col]).sum())
    model.train(was_training)
    return correct / len(idx)


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 4)}


def evaluate_models(model_dirs: list[str], dataset: str, split: str = "test") -> dict[str, Any]:
    from ..data.format import BuiltDataset
    from ..models.adda import ADDAClassifier

    ds = BuiltDataset(dataset)
    runs = []
    for d in model_dirs:
        model = ADDAClassifier.from_pretrained(d)
        c = model.config  # source / target selectors and label: those of the (last) model
        if c.label not in ds.label_names or len(ds.label_vocab(c.label)) != c.num_classes:
            raise T2VError(f"{d} predicts {c.num_classes} classes of {c.label!r}; {dataset} has labels "
                           f"{ {n: len(ds.label_vocab(n)) for n in ds.label_names} }")
        runs.append({
            "model": d,
            "source_only": round(domain_accuracy(model, ds, c.target, split, "source"), 4),
            "adda": round(domain_accuracy(model, ds, c.target, split, "target"), 4),
            "source_domain": round(domain_accuracy(model, ds, c.source, split, "source"), 4),
        })
    for r in runs:
        r["gain"] = round(r["adda"] - r["source_only"], 4)
    summary = {key: mean_std([r[key] for r in runs]) for key in ("source_only", "adda", "gain", "source_domain")}
    return {"dataset": dataset, "split": split, "source": c.source, "target": c.target, "runs": runs,
            "summary": summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m t2v.evaluation.adda", description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", required=True, help="exported ADDA model dir; repeat for seeds")
    p.add_argument("--dataset", required=True, help="built labeled dataset with the source and target domains")
    p.add_argument("--split", default="test", help="split whose items are scored (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="also write the JSON here")
    a = p.parse_args(argv)
    from .output import check_output_file, emit_json

    check_output_file(a.out, "--out")  # before the models are scored, not after
    torch.set_num_threads(a.threads)

    emit_json(evaluate_models(a.model, a.dataset, a.split), a.out)
    return 0


if __name__ == "__main__":
    run_cli(main)
