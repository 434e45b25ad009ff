"""T2V on Scene-Actions at 32x32, 8 frames: which changes let the model draw held-out action/place combinations.

    python benchmarks/t2v_ablation.py [--arms base bow_attn ...] [--steps 4000] [--samples-per-caption 20 8]

Every arm is configs/t2v_scenes32.yaml plus the overrides below, trained with the same data, seed and steps into
runs/t2v_ablation/<arm> (resumed from its latest checkpoint when one exists; an arm whose checkpoint is already at
--steps is only evaluated). Each export is judged by data/classifiers/scenes32 on the held-out combinations and on
the seen ones (val): action and place accuracy of generated clips, and diversity.
The judge: python -m t2v.evaluation train-classifier --dataset data/scenes32 --out data/classifiers/scenes32
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = "configs/t2v_scenes32.yaml"
ARMS = {
    "base": [],  # the earlier default recipe's model (LSTM text encoder, sentence-vector conditioning, R1 gamma 10)
    "bow": ["text.encoder=bow"],
    "attn": ["model.word_attention=true"],
    "bow_attn": ["text.encoder=bow", "model.word_attention=true"],
    # D also classifies action and place from the clip alone (AC-GAN); G must make its clips read as the caption's
    "bow_attn_aux": ["text.encoder=bow", "model.word_attention=true", "model.aux_labels=[action, place]"],
    # half of D's mismatched captions one label off (same place, other action, or the reverse)
    "bow_attn_hard": ["text.encoder=bow", "model.word_attention=true", "model.mismatch_hard=0.5"],
    "r1_0.1": ["model.r1_gamma=0.1"],
    "bow_attn_r1_0.1": ["text.encoder=bow", "model.word_attention=true", "model.r1_gamma=0.1"],
}


def trained_steps(out: Path) -> int:
    from t2v.training.trainer import list_checkpoints

    ckpts = list_checkpoints(out)
    return json.loads((ckpts[-1] / "trainer_state.json").read_text())["step"] if ckpts else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--root", default="runs/t2v_ablation", help="run directories: ROOT/<arm>")
    p.add_argument("--classifier", default="data/classifiers/scenes32")
    p.add_argument("--samples-per-caption", type=int, nargs=2, default=[20, 8], metavar=("HELDOUT", "VAL"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/t2v_ablation.json")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from t2v.config import load_config
    from t2v.evaluation.classifier import load_classifier
    from t2v.evaluation.metrics import evaluate_pipeline, open_dataset
    from t2v.pipelines import load_pipeline
    from t2v.training import Trainer

    # arms evaluated before (same --json) stay in the table and the file; the arms run now replace their entries
    results = json.loads(Path(a.json).read_text()) if Path(a.json).is_file() else {}
    for arm in a.arms:
        out = Path(a.root) / arm
        cfg = load_config(ROOT / CONFIG, [*ARMS[arm], f"train.max_steps={a.steps}", f"train.output_dir={out}"])
        if trained_steps(out) < a.steps or not (out / "final" / "config.json").is_file():
            print(f"{arm}: training {CONFIG} {' '.join(ARMS[arm])} to step {a.steps} in {out}", flush=True)
            Trainer(cfg, resume="latest").fit()
        ds, classifier = open_dataset(cfg.data.path), load_classifier(a.classifier)
        pipe = load_pipeline(out / "final")
        evals = {split: evaluate_pipeline(pipe, classifier, ds, split=split, samples_per_caption=n, seed=0)
                 for split, n in zip(("heldout", "val"), a.samples_per_caption)}
        results[arm] = {"overrides": ARMS[arm], "steps": trained_steps(out), "evaluation": evals}
    print(f"\n{CONFIG} + overrides; generated clips judged by {a.classifier} "
          f"({a.samples_per_caption[0]} per held-out caption, {a.samples_per_caption[1]} per val caption, seed 0)\n")
    print("| arm | overrides | steps | heldout action | heldout place | val action | val place "
          "| diversity heldout / val |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for arm, r in results.items():
        h, v = r["evaluation"]["heldout"], r["evaluation"]["val"]
        print(f"| {arm} | {' '.join(r['overrides']) or '-'} | {r['steps']} | {h['accuracy']['action']:.3f} | "
              f"{h['accuracy']['place']:.3f} | {v['accuracy']['action']:.3f} | {v['accuracy']['place']:.3f} | "
              f"{h['diversity']} / {v['diversity']} |")
    for arm, r in results.items():
        per = ", ".join(f"{c['caption']} {c['accuracy']:.2f}" for c in r["evaluation"]["heldout"]["per_caption"])
        print(f"\n{arm}, held-out clips with action and place right, per caption: {per}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
