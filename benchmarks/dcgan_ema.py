"""Text-to-image DCGAN: the live generator vs its EMA, with and without re-estimated BatchNorm statistics.

    python benchmarks/dcgan_ema.py --run runs/dcgan_digits [--run ...] [--samples-per-caption 32] [--threads 2]

For each training run (trained with train.ema_decay > 0) three generators from its latest checkpoint are judged
the same way as `python -m t2v.evaluation evaluate`: "live" (the weights the optimiser trained), "ema, live BN" (the
averaged weights with the BatchNorm buffers the EMA copies from the live network, i.e. what the checkpoint holds)
and "ema, standing BN" (the averaged weights with BatchNorm statistics re-estimated for them: what OUTPUT/final
holds). Prints a table and writes the numbers as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", required=True, help="a training run's output_dir (repeatable)")
    p.add_argument("--classifier", default="data/classifiers/digits_captions")
    p.add_argument("--dataset", default="data/digits_captions")
    p.add_argument("--split", default="test")
    p.add_argument("--samples-per-caption", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/dcgan_ema.json")
    a = p.parse_args()
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(a.threads)
    from t2v.evaluation.classifier import load_classifier
    from t2v.evaluation.metrics import evaluate_pipeline, open_dataset
    from t2v.pipelines.image import TextToImagePipeline
    from t2v.training.trainer import list_checkpoints

    ds, classifier = open_dataset(a.dataset), load_classifier(a.classifier)
    results = {}
    for run in a.run:
        ckpts = list_checkpoints(Path(run))
        if not ckpts or not (ckpts[-1] / "ema_G.safetensors").is_file() or not (Path(run) / "final").is_dir():
            sys.exit(f"error: {run} has no finished run with an EMA checkpoint (train with train.ema_decay > 0)")
        ckpt = ckpts[-1]
        step = json.loads((ckpt / "trainer_state.json").read_text())["step"]
        arms = {"live": ckpt / "model.safetensors", "ema, live BN": ckpt / "ema_G.safetensors",
                "ema, standing BN": None}
        results[run] = {"step": step, "arms": {}}
        pipe = TextToImagePipeline.from_pretrained(Path(run) / "final")  # once: the text encoder may be large
        export = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
        for arm, weights in arms.items():
            # model.safetensors of a checkpoint is the recipe's first net, G
            pipe.generator.load_state_dict(export if weights is None else load_file(str(weights)))
            e = evaluate_pipeline(pipe, classifier, ds, split=a.split, samples_per_caption=a.samples_per_caption,
                                  seed=a.seed)
            results[run]["arms"][arm] = {k: v for k, v in e.items() if k != "per_caption"}
            print(f"{run} step {step} {arm}: accuracy {e['accuracy']['all']:.3f}, diversity {e['diversity']}",
                  flush=True)
    print(f"\naccuracy of generated images ({a.samples_per_caption} per caption of {a.split}, seed {a.seed}) / "
          "diversity\n")
    names = list(next(iter(results.values()))["arms"])
    print("| run | step | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for run, r in results.items():
        cells = " | ".join(f"{r['arms'][n]['accuracy']['all']:.3f} / {r['arms'][n]['diversity']}" for n in names)
        print(f"| {run} | {r['step']} | {cells} |")
    e = next(iter(results.values()))["arms"]["live"]
    print(f"\nreal {a.split} images: accuracy {e['real_accuracy']['all']:.3f}, diversity {e['real_diversity']}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
