"""Digits benchmark of the VAE family: test ELBO of the VAE and CVAE per digit domain, their sample grids, and the
semi-supervised M2's accuracy on the handwritten test digits next to its classifier q(y|x) trained on the labels
alone.

    python -m t2v.benchmarks.vae [--runs runs/vae_bench] [--labels 10 50] [--seeds 0 1]
                                 [--out results.json] [--markdown results.md] [--samples DIR] [key.sub=value ...]

Every model is trained by the project's Trainer from its committed config (configs/vae_digits.yaml,
configs/cvae_digits.yaml, configs/m2_digits.yaml; the baseline is configs/m2_digits.yaml with
model.kind=classifier: same q(y|x) network, labeled images, labeled batch, optimiser and steps) into
RUNS/<name>; a run whose export RUNS/<name>/final already exists is evaluated, not retrained. Trailing
key.sub=value overrides apply to every run (e.g. train.max_steps=10 for a smoke run). The VAE and CVAE
are trained once (train.seed 0); M2 and the baseline once per seed, the seed also choosing the labeled images.
-ELBO is in nats per 32x32 grey image (Bernoulli likelihood of the grey levels, one posterior sample per test
image, KL in closed form); the CVAE's is conditioned on the true digit.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ..config import Config, load_config
from ..data.format import BuiltDataset
from ..data.loader import CaptionedDataset, make_loader
from ..errors import ConfigError, run_cli
from ..models.vae import VAE, ImageClassifier, load_model
from ..training.recipes.vae import model_input, save_samples

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DOMAINS = {"source": "printed", "target": "handwritten"}


def train_or_load(name: str, config: str, overrides: list[str], runs: Path) -> tuple[VAE | ImageClassifier, Config]:
    """The export of RUNS/name, training it first (from configs/<config>.yaml + overrides) if it is missing."""
    from ..training import Trainer

    out = runs / name
    cfg = load_config(CONFIGS / f"{config}.yaml", [*overrides, f"train.output_dir={out}", "train.sample_every=0"])
    if not (out / "final" / "model.safetensors").is_file():
        print(f"training {name} ({config}.yaml {' '.join(overrides)})", flush=True)
        start = time.perf_counter()
        Trainer(cfg).fit()
        print(f"trained {name} in {time.perf_counter() - start:.0f} s", flush=True)
    return load_model(out / "final"), cfg


def _test_batches(cfg: Config, domain: str | None, batch: int = 250):
    data = CaptionedDataset(BuiltDataset(cfg.data.path), split="test", domain=domain)
    label_index = data.ds.label_names.index(cfg.model.label)
    for b in make_loader(data, batch, shuffle=False, drop_last=False):
        yield model_input(b["pixels"], cfg.model.channels), b["labels"][:, label_index]


@torch.no_grad()
def test_neg_elbo(model: VAE, cfg: Config, domain: str | None, seed: int = 0) -> dict[str, float]:
    """Mean reconstruction NLL, KL and -ELBO (nats per image) over the test split of `domain`."""
    torch.manual_seed(seed)
    totals, n = {"rec": 0.0, "kl": 0.0}, 0
    for x, y in _test_batches(cfg, domain):
        rec, kl = model.neg_elbo(x, y if model.config.conditional else None)
        totals["rec"] += rec.sum().item()
        totals["kl"] += kl.sum().item()
        n += len(x)
    means = {k: v / n for k, v in totals.items()}
    return means | {"neg_elbo": means["rec"] + means["kl"], "images": n}


@torch.no_grad()
def test_accuracy(model: VAE | ImageClassifier, cfg: Config) -> float:
    """Accuracy (%) of q(y|x) (M2's classifier, or the classifier alone) on the test images of the trained domain."""
    correct, n = 0, 0
    for x, y in _test_batches(cfg, cfg.model.domain or None):
        logits = model.classify(x) if isinstance(model, VAE) else model(x)
        correct += int((logits.argmax(1) == y).sum())
        n += len(x)
    return 100.0 * correct / n


def _mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def markdown_tables(record: dict[str, Any]) -> str:
    lines = ["| model | test digits | -ELBO (nats) | reconstruction | KL |", "|---|---|---:|---:|---:|"]
    for r in record["elbo"]:
        lines.append(f"| {r['model']} | {r['domain']} ({r['images']}) | {r['neg_elbo']:.1f} | {r['rec']:.1f} | "
                     f"{r['kl']:.1f} |")
    seeds = record["seeds"]
    lines += ["", f"| labels per class | M2 accuracy % | classifier alone % | (handwritten test digits, "
                  f"mean ± std over {len(seeds)} seed(s)) |", "|---:|---:|---:|---|"]
    for r in record["semi_supervised"]:
        lines.append(f"| {r['labels_per_class']} | {_mean_std(r['m2'])} | {_mean_std(r['classifier'])} | "
                     f"per seed: M2 {r['m2']}, alone {r['classifier']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m t2v.benchmarks.vae", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/vae_bench"), help="run directories (reused)")
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 50], help="labels per class for M2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the M2 / baseline runs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--samples", type=Path, help="write vae.samples_<model>.png grids into this directory")
    parser.add_argument("overrides", nargs="*", help="key.sub=value config overrides for every run")
    args = parser.parse_args(argv)
    if min(args.labels) < 1:
        raise ConfigError("--labels must be >= 1")
    torch.set_num_threads(args.threads)
    common = list(args.overrides)
    record: dict[str, Any] = {"seeds": args.seeds, "elbo": [], "semi_supervised": []}
    generative: dict[str, VAE] = {}
    for name in ("vae", "cvae"):
        model, cfg = train_or_load(name, f"{name}_digits", common, args.runs)
        generative[name] = model
        for domain, label in DOMAINS.items():
            record["elbo"].append({"model": name.upper(), "domain": label} | test_neg_elbo(model, cfg, domain))
            print(json.dumps(record["elbo"][-1]), flush=True)
    for labels in args.labels:
        row: dict[str, Any] = {"labels_per_class": labels, "m2": [], "classifier": []}
        for seed in args.seeds:
            for kind in ("m2", "classifier"):
                overrides = [*common, f"model.kind={kind}", f"model.labels_per_class={labels}", f"train.seed={seed}"]
                model, cfg = train_or_load(f"{kind}_l{labels}_s{seed}", "m2_digits", overrides, args.runs)
                row[kind].append(round(test_accuracy(model, cfg), 2))
                if kind == "m2" and labels == args.labels[0] and seed == args.seeds[0]:
                    generative["m2"] = model
        record["semi_supervised"].append(row)
        print(json.dumps(row), flush=True)
    table = markdown_tables(record)
    print(table)
    if args.samples:
        for name, model in generative.items():
            print(f"wrote {save_samples(model, args.samples / f'vae.samples_{name}.png')}")
    for path, text in ((args.out, json.dumps(record, indent=2)), (args.markdown, table)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
