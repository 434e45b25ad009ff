"""Does a grass -> snow generator keep an object that has the colour of the grass? A probe of the attention mask.

    python benchmarks/cyclegan_pasted_shapes.py --model runs/cyclegan_scenes_s0/final [--model ...] \
        [--out benchmarks/results/cyclegan_scenes_pasted_shapes.json]

A sail-sized flat triangle (14 px high, 9 px wide on the 64x64 frames) is pasted onto the ground of `--images` val
grass frames (frame 2 of each clip, one random place per frame, the same places for every colour and model), in each
of: the green of the builder's green sails, its yellow sails, white, and the grass's own base colour. Each model
translates the frames grass -> snow. Per colour the table gives the share of the triangle the mask passes through
(1 - mask, averaged over the pixels the triangle covers fully) and the L1 of the cycle G_BA(G_AB(x)) against x on
those pixels (0-255). Needs attention-guided generators (`model.generator.attention: true`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLOURS = {"green sail": (0.1, 0.85, 0.3), "yellow sail": (1.0, 0.85, 0.05), "white": (1.0, 1.0, 1.0),
           "grass": (0.22, 0.58, 0.16)}  # BRIGHT[2], BRIGHT[0] and the base colour of _grass in the scenes builder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", required=True, help="exported CycleGAN model directories (grass <-> snow)")
    p.add_argument("--dataset", default="data/scenes")
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="also write the JSON here")
    a = p.parse_args()
    import numpy as np
    import torch

    from t2v.data.domains import select_items
    from t2v.data.format import BuiltDataset
    from t2v.data.procedural.draw import Canvas
    from t2v.pipelines.translate import ImageTranslationPipeline

    torch.set_num_threads(a.threads)
    ds = BuiltDataset(a.dataset)
    idx = select_items(ds, "place=grass", "val")[: a.images]
    frames = np.stack([np.asarray(ds.pixels[i][2]) for i in idx])
    side = frames.shape[1]
    rng = np.random.default_rng(0)
    places = rng.uniform([0.15 * side, 0.62 * side], [0.85 * side, 0.88 * side], (len(frames), 2))
    triangles = [np.array([[x, y - 0.22 * side], [x, y], [x + 0.14 * side, y]]) for x, y in places]
    inside = []
    for tri in triangles:
        m = Canvas.blank(1, side, side)
        m.polygon(tri, (1.0, 1.0, 1.0))
        inside.append(m.frames[0, ..., 0] > 0.99)
    pasted = {}
    for name, colour in COLOURS.items():
        out = []
        for f, tri in zip(frames, triangles):
            c = Canvas(f[None].astype(np.float32) / 255)
            c.polygon(tri, colour)
            out.append(c.to_uint8()[0])
        pasted[name] = np.stack(out)
    result = {"images": len(frames), "split": "val", "models": {}}
    for model in a.model:
        pipe = ImageTranslationPipeline.from_pretrained(model)
        if not pipe.config.model.generator.attention:
            raise SystemExit(f"{model}: the generators have no attention mask")
        row = {}
        for name, x in pasted.items():
            fake, mask = pipe.translate(x, "AtoB", return_mask=True)
            back = pipe.translate(fake, "BtoA").astype(np.float32)
            mask = mask.astype(np.float32) / 255.0  # the pipeline's masks are uint8
            row[name] = {"passed_through": round(float(np.mean([(1 - m[s]).mean() for m, s in zip(mask, inside)])), 3),
                         "cycle_l1": round(float(np.mean([np.abs(b[s] - o[s].astype(np.float32)).mean()
                                                          for b, o, s in zip(back, x, inside)])), 1)}
        result["models"][model] = row
    print("| model | " + " | ".join(f"{n}: passed through, cycle L1" for n in COLOURS) + " |")
    print("| --- |" + " ---: |" * len(COLOURS))
    for model, row in result["models"].items():
        print(f"| {model} | " + " | ".join(f"{r['passed_through']:.0%}, {r['cycle_l1']:.0f}" for r in row.values()) + " |")
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
