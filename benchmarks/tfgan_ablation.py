"""TFGAN conditioning ablation on Moving Shapes: (a) concat-conditioned vs (b) text-filter discriminators.

    python benchmarks/tfgan_ablation.py [--steps N] [--splits heldout val] [--samples-per-caption 4] [--threads 1]

The arms are configs/tfgan_shapes_concat.yaml (a) and configs/tfgan_shapes.yaml (b): the same generator, data,
steps and seeds; only model.disc_fusion differs. An arm whose OUTPUT/final exists is evaluated as it is; otherwise
it is trained first (resuming from its latest checkpoint). Each export is judged by the attribute classifier
(per-label accuracy of generated clips for every caption of a split, as `python -m t2v.evaluation evaluate`); the
table also shows how often each arm's discriminators scored a real clip higher with its own caption than with a
mismatched one (mean of the last 10 logged training values), i.e. how much each D actually used the text.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARMS = {"(a) concat": "configs/tfgan_shapes_concat.yaml", "(b) text filter": "configs/tfgan_shapes.yaml"}
LABELS = ["shape", "colour", "size", "motion", "direction", "all"]


def trained_steps(out: Path) -> int:
    from t2v.training.trainer import list_checkpoints

    ckpts = list_checkpoints(out)
    if ckpts:
        return json.loads((ckpts[-1] / "trainer_state.json").read_text())["step"]
    # an export brought from elsewhere (e.g. trained on a GPU machine): the steps its config trained for
    return json.loads((out / "final" / "train_config.json").read_text())["train"]["max_steps"]


def match_accuracy(out: Path, last: int = 10) -> tuple[float, float]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][-last:]
    return tuple(round(sum(r[k] for r in rows) / len(rows), 3) for k in ("frame_match_acc", "video_match_acc"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=0, help="train.max_steps of both arms (0 = the configs' value)")
    p.add_argument("--classifier", default="data/classifiers/shapes1")
    p.add_argument("--dataset", default="data/shapes1")
    p.add_argument("--splits", nargs="+", default=["heldout"])
    p.add_argument("--samples-per-caption", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/tfgan_ablation.json")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from t2v.config import load_config
    from t2v.evaluation.classifier import load_classifier
    from t2v.evaluation.metrics import evaluate_pipeline, open_dataset
    from t2v.pipelines import load_pipeline
    from t2v.training import Trainer

    ds, classifier = open_dataset(a.dataset), load_classifier(a.classifier)
    results = {}
    for arm, config in ARMS.items():
        cfg = load_config(ROOT / config, [f"train.max_steps={a.steps}"] if a.steps else [])
        out = Path(cfg.train.output_dir)
        if not (out / "final" / "config.json").is_file():
            print(f"{arm}: training {config} for {cfg.train.max_steps} steps into {out}", flush=True)
            Trainer(cfg, resume="latest").fit()
        pipe = load_pipeline(out / "final")
        evals = {s: evaluate_pipeline(pipe, classifier, ds, split=s, samples_per_caption=a.samples_per_caption,
                                      seed=a.seed) for s in a.splits}
        results[arm] = {"config": config, "steps": trained_steps(out), "match_acc": match_accuracy(out),
                        "evaluation": {s: {k: v for k, v in e.items() if k != "per_caption"} for s, e in evals.items()}}
    print(f"\nper-label accuracy of generated clips ({a.samples_per_caption} per caption, seed {a.seed}); "
          "D match acc = P(D(real, own caption) > D(real, mismatched caption)), frame / video D\n")
    print("| arm | split | steps | " + " | ".join(LABELS) + " | diversity | D match acc |")
    print("|---|---|---:|" + "---:|" * (len(LABELS) + 2))
    for arm, r in results.items():
        for split, e in r["evaluation"].items():
            acc = " | ".join(f"{e['accuracy'].get(k, float('nan')):.3f}" for k in LABELS)
            print(f"| {arm} | {split} | {r['steps']} | {acc} | {e['diversity']} | {r['match_acc'][0]} / "
                  f"{r['match_acc'][1]} |")
    real = next(iter(results.values()))["evaluation"]
    for split, e in real.items():
        print(f"\nreal {split} clips (classifier ceiling): " + ", ".join(f"{k} {v:.3f}" for k, v in e["real_accuracy"].items())
              + f"; real diversity {e['real_diversity']}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
