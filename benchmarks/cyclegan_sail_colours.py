"""Which held-out "sail on grass" clips lose their action in grass -> snow translation: the kept rate per sail colour.

    python benchmarks/cyclegan_sail_colours.py --model runs/cyclegan_scenes_s0/final [--model ...] \
        [--out benchmarks/results/cyclegan_scenes_attn_sail_colours.json] [--strip green_sails.png]

The Scene-Actions builder paints each sail in one of five accent colours (`BRIGHT` in t2v/data/procedural/scenes.py,
jittered). A clip's colour here is the accent with the most pixels within 0.1 (per channel, in [0, 1]) of it in the
first frame. Each model translates every held-out grass clip frame by frame and the judge (`data/classifiers/scenes`)
reads the action; the table gives, per colour, how many clips and the share still read as "sail". `--strip` writes
frame 3 of the first 6 green-sail clips as three rows per model: the frames, their translation and (attention-guided
generators) the mask, white = generated.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = ["yellow", "orange", "green", "pink", "red"]  # the order of BRIGHT


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", required=True, help="exported CycleGAN model directories (grass <-> snow)")
    p.add_argument("--dataset", default="data/scenes")
    p.add_argument("--classifier", default="data/classifiers/scenes")
    p.add_argument("--split", default="heldout")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--strip", help="also write a PNG of green-sail frames, their translation and mask per model")
    a = p.parse_args()
    import numpy as np
    import torch

    from t2v.data.domains import select_items
    from t2v.data.format import BuiltDataset
    from t2v.data.procedural.scenes import BRIGHT
    from t2v.evaluation.classifier import classify, load_classifier
    from t2v.pipelines.translate import ImageTranslationPipeline

    torch.set_num_threads(a.threads)
    ds, judge = BuiltDataset(a.dataset), load_classifier(a.classifier)
    idx = select_items(ds, "place=grass", a.split)
    sail = ds.label_vocab("action").index("sail")
    is_sail = ds.all_label_ids[idx, ds.label_names.index("action")] == sail
    if not is_sail.any():
        raise SystemExit(f"no sail clips on grass in split {a.split!r}")
    idx = idx[is_sail]
    colours = []
    for i in idx:
        frame = np.asarray(ds.pixels[i][0]).astype(np.float32) / 255
        near = [int((np.abs(frame - np.array(c)).max(-1) < 0.1).sum()) for c in BRIGHT]
        colours.append(NAMES[int(np.argmax(near))])
    colours = np.array(colours)
    kept, strip = {}, []
    green = np.asarray(ds.pixels[idx[colours == "green"][:6]])[:, 3] if (colours == "green").any() else None
    for model in a.model:
        pipe = ImageTranslationPipeline.from_pretrained(model)
        if a.strip and green is not None:
            if pipe.generators["AtoB"].config.attention:
                fake, mask = pipe.translate(green, "AtoB", return_mask=True)
                strip += [green, fake, np.repeat(mask[..., None], 3, axis=-1)]
            else:
                strip += [green, pipe.translate(green, "AtoB")]
        hits = []
        for start in range(0, len(idx), 50):
            px = np.asarray(ds.pixels[idx[start : start + 50]])
            hits.append(classify(judge, pipe.translate(px, "AtoB"), 50)["action"] == sail)
        kept[model] = np.concatenate(hits)
    table = {}
    for name in NAMES:
        rows = colours == name
        table[name] = {"clips": int(rows.sum()),
                       **{m: round(float(k[rows].mean()), 3) if rows.any() else None for m, k in kept.items()}}
    result = {"split": a.split, "clips": int(len(idx)), "kept_all": {m: round(float(k.mean()), 4) for m, k in kept.items()},
              "kept_by_sail_colour": table}
    print("| sail colour | clips | " + " | ".join(a.model) + " |")
    print("| --- | ---: |" + " ---: |" * len(a.model))
    for name, row in table.items():
        print(f"| {name} | {row['clips']} | " + " | ".join(f"{row[m]:.1%}" if row[m] is not None else "-" for m in a.model)
              + " |")
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    if strip:
        from t2v.data.video import save_image_grid

        save_image_grid(a.strip, np.concatenate(strip), nrow=len(green))


if __name__ == "__main__":
    main()
