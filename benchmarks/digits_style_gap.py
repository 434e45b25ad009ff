"""How far apart printed and handwritten digits are in shape, not only in style: two measurements behind the CycleGAN
digits result (README, "CycleGAN, printed <-> handwritten digits").

    python benchmarks/digits_style_gap.py [--steps 1000] [--out benchmarks/results/digits_style_gap.json]

1. The handwritten judge (`data/classifiers/digits_handwritten`) on the printed test digits, untranslated and after a
   fixed "translation" into scikit-learn's style: 4x4 box average down to 8x8, optionally quantised to its 17
   levels, and bilinear back to 32x32 (`scale_up_8x8`, as the real ones are scaled up).
2. CyCADA's semantic classifier f (the LeNet of `model.semantic_weight`) trained on the printed training digits
   only, with more and more augmentation (8x8 blur, random affine, stroke thickness), then scored on the real
   handwritten test digits. The handwritten labels are used for scoring only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AUGMENTS = ["none", "blur8", "affine+blur8", "affine+thickness+blur8"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="data/digits_unpaired_norm")
    p.add_argument("--classifier", default="data/classifiers/digits_handwritten")
    p.add_argument("--steps", type=int, default=1000, help="f's Adam steps (batches of 64), as semantic_steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="also write the JSON here")
    a = p.parse_args()
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    from t2v.data.domains import select_items
    from t2v.data.format import BuiltDataset
    from t2v.data.procedural.digits import scale_up_8x8
    from t2v.evaluation.classifier import classify, load_classifier
    from t2v.models.adda import ADDAModelConfig, LeNetEncoder

    torch.set_num_threads(a.threads)
    ds = BuiltDataset(a.dataset)
    col = ds.label_names.index("digit")

    def load(selector: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        idx = select_items(ds, selector, split)
        return np.asarray(ds.pixels[idx])[..., 0].astype(np.float32) / 255.0, ds.all_label_ids[idx, col]

    printed, printed_y = load("domain=A", "test")
    result: dict = {"dataset": a.dataset, "classifier": a.classifier, "steps": a.steps, "seed": a.seed}

    # 1. the judge on fixed translations of the printed test digits
    judge = load_classifier(a.classifier)

    def judged(gray: np.ndarray) -> float:
        rgb = np.repeat((np.clip(gray, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=-1)
        return round(float((classify(judge, rgb)["digit"] == printed_y).mean()), 4)

    size = printed.shape[-1]
    small = printed.reshape(-1, 8, size // 8, 8, size // 8).mean(axis=(2, 4))
    result["judge_on_printed"] = {
        "untranslated": judged(printed), "blur8": judged(scale_up_8x8(small, size)),
        "blur8_quantised": judged(scale_up_8x8(np.round(small * 16) / 16, size))}

    # 2. f trained on printed digits only, scored on the real handwritten ones
    xa, ya = load("domain=A", "train")
    xb, yb = load("domain=B", "test")
    to_t = lambda x: torch.from_numpy(x)[:, None] * 2 - 1  # noqa: E731
    xa_t, ya_t, xb_t, yb_t = to_t(xa), torch.from_numpy(ya).long(), to_t(xb), torch.from_numpy(yb).long()
    xat_t, yat_t = to_t(printed), torch.from_numpy(printed_y).long()

    def augment(x: torch.Tensor, mode: str, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        if "affine" in mode:  # rotation +-15 deg, scale +-12%, shear +-0.3, shift +-4%
            u = lambda s: (torch.rand(n, generator=g) * 2 - 1) * s  # noqa: E731
            ang, sc, sh, tx, ty = u(0.26), 1 + u(0.12), u(0.3), u(0.08), u(0.08)
            c, s = torch.cos(ang) / sc, torch.sin(ang) / sc
            theta = torch.stack([torch.stack([c, -s + sh * c, tx], 1), torch.stack([s, c, ty], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        if "thickness" in mode:  # thicker, thinner or unchanged strokes (ink is bright)
            k = int(torch.randint(0, 3, (1,), generator=g))
            x = F.max_pool2d(x, 3, 1, 1) if k == 1 else -F.max_pool2d(-x, 3, 1, 1) if k == 2 else x
        if "blur8" in mode:
            x = F.interpolate(F.avg_pool2d(x, size // 8), size=size, mode="bilinear", align_corners=False)
        return x

    rows = []
    for mode in AUGMENTS:
        torch.manual_seed(a.seed)
        g = torch.Generator().manual_seed(a.seed)
        cfg = ADDAModelConfig(in_channels=1, size=size, num_classes=10)
        f = nn.Sequential(LeNetEncoder(cfg), nn.Linear(cfg.feature_dim, 10))
        opt = torch.optim.Adam(f.parameters(), lr=1e-3)
        start = time.perf_counter()
        for _ in range(a.steps):
            i = torch.randint(0, len(xa_t), (64,), generator=g)
            loss = F.cross_entropy(f(augment(xa_t[i], mode, g)), ya_t[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        f.eval()
        with torch.no_grad():
            acc = lambda x, y: round(float((f(x).argmax(1) == y).float().mean()), 4)  # noqa: E731
            rows.append({"augment": mode, "printed_test": acc(xat_t, yat_t), "handwritten_test": acc(xb_t, yb_t),
                         "seconds": round(time.perf_counter() - start, 1)})
    result["semantic_f"] = rows

    j = result["judge_on_printed"]
    print(f"handwritten judge on printed test digits: untranslated {j['untranslated']:.1%}, "
          f"blurred to 8x8 and back {j['blur8']:.1%} (quantised {j['blur8_quantised']:.1%})")
    print("| f trained on printed digits with | printed test | handwritten test |")
    print("| --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['augment']} | {r['printed_test']:.1%} | {r['handwritten_test']:.1%} |")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
