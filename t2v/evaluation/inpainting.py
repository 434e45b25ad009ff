"""Measure GAN inpainting (Yeh et al. 2016) on held-out images of a built image dataset.

    python -m t2v.evaluation.inpainting --model runs/dcgan_digits/final --dataset data/digits_captions \
        --split test --classifier data/classifiers/digits_captions --hole center --num-images 200

Each image gets a hole (`--hole`: a centred square, or the left / right / top / bottom part, of `--hole-size` times
the side), is completed by `t2v.inpainting.inpaint_batch` (a text-conditional model is given the item's first
caption), and is compared with the original on the hole's pixels: mean absolute error (0-255 scale) and PSNR.
Two fills that need no GAN are scored the same way, so the number means something: the known region's mean colour
("mean_fill") and the training image whose known region is closest in L1 ("nearest_train", the hole copied from it).
With `--classifier`, the items' labels are predicted on the originals, on the three fills and on the GAN's
completions ("kept": how often the label survives). `--strip PNG` writes, for the first 8 images, one row each:
original | masked | nearest_train | G(ẑ) | completion.
"""
from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ..errors import T2VError, run_cli

HOLES = ("center", "left", "right", "top", "bottom")


def check_hole(kind: str, fraction: float) -> None:
    """A clear error for a hole kind or size `hole_masks` cannot make."""
    if kind not in HOLES:
        raise T2VError(f"--hole must be one of {', '.join(HOLES)}, got {kind!r}")
    if not 0.0 < fraction < 1.0:
        raise T2VError(f"--hole-size must be between 0 and 1 (a fraction of the side), got {fraction}")


def hole_masks(kind: str, size: int, fraction: float, n: int) -> np.ndarray:
    """float32 [n, size, size], 1 = known, 0 = the hole."""
    check_hole(kind, fraction)
    k = max(1, min(size - 1, round(fraction * size)))
    m = np.ones((size, size), np.float32)
    if kind == "center":
        a = (size - k) // 2
        m[a : a + k, a : a + k] = 0
    elif kind == "left":
        m[:, :k] = 0
    elif kind == "right":
        m[:, size - k :] = 0
    elif kind == "top":
        m[:k] = 0
    else:
        m[size - k :] = 0
    return np.broadcast_to(m, (n, size, size)).copy()


def hole_errors(filled: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """Mean absolute error and PSNR (0-255 scale) over the hole pixels, pooled over the images."""
    hole = masks < 0.5
    diff = filled.astype(np.float64)[hole] - truth.astype(np.float64)[hole]
    mse = float((diff**2).mean())
    return {"hole_mae": round(float(np.abs(diff).mean()), 3),
            "hole_psnr": round(10 * math.log10(255.0**2 / mse), 3) if mse > 0 else float("inf")}


def mean_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The hole painted with the known region's mean colour, per image (uint8 [N, H, W, 3])."""
    m = masks[..., None]
    colour = (images * m).sum((1, 2)) / m.sum((1, 2))
    return np.where(m > 0.5, images, colour[:, None, None, :]).round().astype(np.uint8)


def nearest_fill(images: np.ndarray, masks: np.ndarray, bank: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The hole copied from the `bank` image (uint8 [M, H, W, 3]) closest in L1 on the known region; (fills, indices)."""
    import torch

    b = torch.from_numpy(np.asarray(bank, dtype=np.float32).reshape(len(bank), -1))
    best = np.zeros(len(images), np.int64)
    for s in range(0, len(images), chunk):
        x = torch.from_numpy(images[s : s + chunk].astype(np.float32).reshape(-1, b.shape[1]))
        w = torch.from_numpy(np.repeat(masks[s : s + chunk, ..., None], 3, -1).reshape(len(x), -1))
        # sum_k w_k |x_k - b_k| for every bank image, without materialising [chunk, M, D]
        dists = torch.stack([((xi - b).abs() * wi).sum(1) for xi, wi in zip(x, w)])
        best[s : s + chunk] = dists.argmin(1).numpy()
    m = masks[..., None]
    return np.where(m > 0.5, images, bank[best]).astype(np.uint8), best


def evaluate_inpainting(pipe: Any, ds: Any, split: str, indices: np.ndarray, masks: np.ndarray, *, classifier: Any = None,
                        bank_split: str = "train", steps: int = 1000, lr: float = 0.01, lam: float = 0.003,
                        candidates: int = 4, window: int = 0, batch_size: int = 50, seed: int = 0,
                        log: Any = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-ready result, images by name: original, masked, nearest_train, generated, gan) for `indices`."""
    import torch
    from einops import rearrange

    from ..data.loader import normalize_pixels
    from ..inpainting import inpaint_batch
    from ..pipelines.base import to_uint8

    truth = np.asarray(ds.pixels[indices])  # uint8 [N, H, W, 3]
    captions = [ds.items[int(i)]["captions"][0] if ds.items[int(i)]["captions"] else "" for i in indices]
    if pipe.conditional and not all(captions):
        raise T2VError(f"{ds.path} has items without a caption in split {split!r}; a text-conditional model needs one")
    gan, generated, ctx_start, ctx_end = [], [], [], []
    for s in range(0, len(indices), batch_size):
        x = normalize_pixels(torch.from_numpy(truth[s : s + batch_size]))
        x = rearrange(x, "n h w c -> n c h w").to(pipe.device)
        ids = text_mask = None
        if pipe.conditional:
            ids, text_mask = pipe.text_inputs([pipe.clean_prompt(c)[0] for c in captions[s : s + batch_size]])
        r = inpaint_batch(pipe.generator, pipe.discriminator, x, torch.from_numpy(masks[s : s + batch_size]), ids,
                          text_mask, steps=steps, lr=lr, lam=lam, candidates=candidates, window=window, seed=seed + s)
        gan.append(to_uint8(rearrange(r.image, "n c h w -> n h w c")))
        generated.append(to_uint8(rearrange(r.generated, "n c h w -> n h w c")))
        ctx_start.append(r.contextual[:, 0].cpu().numpy())
        ctx_end.append(r.contextual[:, -1].cpu().numpy())
        if log:
            log(f"inpainted {min(s + batch_size, len(indices))}/{len(indices)}")
    images = {"original": truth, "masked": mean_fill(truth, masks), "generated": np.concatenate(generated),
              "gan": np.concatenate(gan)}
    bank = np.asarray(ds.pixels[ds.indices(bank_split)])
    images["nearest_train"], _ = nearest_fill(truth, masks, bank)
    fills = {"gan": images["gan"], "nearest_train": images["nearest_train"], "mean_fill": images["masked"]}
    result: dict[str, Any] = {
        "split": split, "images": int(len(indices)), "hole_pixels_per_image": int((masks[0] < 0.5).sum()),
        "bank": {"split": bank_split, "images": int(len(bank))},
        "fills": {name: hole_errors(f, truth, masks) for name, f in fills.items()},
        "contextual_l1": {"start": round(float(np.concatenate(ctx_start).mean()), 3),
                          "end": round(float(np.concatenate(ctx_end).mean()), 3)},
    }
    if classifier is not None:
        from .classifier import classify
        from .metrics import check_labels, label_accuracy

        names = [n for n in classifier.label_names if n in ds.label_names]
        check_labels(classifier, ds, names)
        targets = {n: ds.all_label_ids[indices, ds.label_names.index(n)] for n in names}
        result["label_accuracy"] = {name: label_accuracy(classify(classifier, pixels), targets)
                                    for name, pixels in {"original": truth, **fills}.items()}
    return result, images


def strip(images: dict[str, np.ndarray], rows: int = 8) -> np.ndarray:
    """uint8 grid: one row per image, columns original | masked | nearest_train | G(ẑ) | completion, 2 px gaps."""
    cols = ["original", "masked", "nearest_train", "generated", "gan"]
    n = min(rows, len(images["original"]))
    h, w = images["original"].shape[1:3]
    out = np.full((n * (h + 2) - 2, len(cols) * (w + 2) - 2, 3), 128, np.uint8)
    for r in range(n):
        for c, name in enumerate(cols):
            out[r * (h + 2) : r * (h + 2) + h, c * (w + 2) : c * (w + 2) + w] = images[name][r]
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m t2v.evaluation.inpainting", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--model", required=True, help="exported DCGAN directory (with discriminator.safetensors)")
    p.add_argument("--dataset", required=True, help="built image dataset of the model's size")
    p.add_argument("--split", default="test", help="split whose images are masked and completed (default: test)")
    p.add_argument("--bank-split", default="train", help="split searched by the nearest-image baseline")
    p.add_argument("--classifier", help="attribute classifier: are the items' labels kept?")
    p.add_argument("--num-images", type=int, default=200, help="first N items of the split (default: 200)")
    p.add_argument("--hole", default="center", choices=HOLES)
    p.add_argument("--hole-size", type=float, default=0.5, help="hole side (or depth) as a fraction of the image side")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps on z (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--lam", type=float, default=0.003, help="weight λ of the perceptual loss (default: %(default)s)")
    p.add_argument("--candidates", type=int, default=4, help="latents searched per image (default: %(default)s)")
    p.add_argument("--window", type=int, default=0, help="importance-weighting window (Yeh et al.: 7); 0 = plain mask")
    p.add_argument("--batch-size", type=int, default=50, help="images searched at once")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--strip", help="write a PNG: original | masked | nearest_train | G(z) | completion, 8 rows")
    p.add_argument("--out", help="also write the JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    import sys

    a = _parser().parse_args(argv)
    if a.num_images < 1 or a.steps < 1 or a.candidates < 1 or a.batch_size < 1:
        raise T2VError("--num-images, --steps, --candidates and --batch-size must be positive")
    check_hole(a.hole, a.hole_size)  # before the model is loaded
    from .output import check_output_file, emit_json

    check_output_file(a.out, "--out")  # an unwritable path fails now, not after the search
    check_output_file(a.strip, "--strip")
    import torch

    from ..data.format import BuiltDataset
    from ..errors import CheckpointError
    from ..pipelines import load_pipeline
    from .metrics import require_split

    torch.set_num_threads(a.threads)
    pipe = load_pipeline(a.model, device=a.device)
    if getattr(pipe, "discriminator", None) is None:
        raise CheckpointError(f"{a.model} is not a DCGAN export with a discriminator; inpainting needs G and D")
    ds = BuiltDataset(a.dataset)
    for split in (a.split, a.bank_split):
        require_split(ds, split)
    size = pipe.config.model.size
    if ds.kind != "image" or tuple(ds.meta["item_shape"]) != (size, size, 3):
        raise T2VError(f"{a.dataset} holds {ds.kind} items of shape {ds.meta['item_shape']}; the model makes "
                       f"{size}x{size} images (make stills with datasets/frames.py)")
    indices = ds.indices(a.split)[: a.num_images]
    masks = hole_masks(a.hole, size, a.hole_size, len(indices))
    classifier = None
    if a.classifier:
        from .classifier import load_classifier

        classifier = load_classifier(a.classifier)
    result, images = evaluate_inpainting(
        pipe, ds, a.split, indices, masks, classifier=classifier, bank_split=a.bank_split, steps=a.steps, lr=a.lr,
        lam=a.lam, candidates=a.candidates, window=a.window, batch_size=a.batch_size, seed=a.seed,
        log=lambda msg: print(msg, file=sys.stderr, flush=True))
    result = {"model": a.model, "dataset": a.dataset, "classifier": a.classifier, "hole": a.hole,
              "hole_size": a.hole_size, "steps": a.steps, "lr": a.lr, "lam": a.lam, "candidates": a.candidates,
              "window": a.window, "seed": a.seed, **result}
    if a.strip:
        from ..data.video import write_png

        write_png(a.strip, strip(images))
        result["strip"] = a.strip
    emit_json(result, a.out)
    return 0


if __name__ == "__main__":
    run_cli(main)
