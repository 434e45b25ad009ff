"""Fill the missing region of an image with a trained (text-conditional) DCGAN (Yeh et al. 2016).

    python -m t2v.inpaint --checkpoint DIR --image IN.png --mask MASK.png [--text "play golf on snow"] --out OUT.png

MASK.png has the image's size: white (>= 128) = known pixels, kept as they are; black = the region to fill. Images
(and masks) of another size than the model's are resized to cover it and center-cropped. Writes OUT.png at the
model's size; `--strip PATH` also writes [masked input | G(ẑ) | result] side by side.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from .data.loader import normalize_pixels
from .errors import CheckpointError, T2VError, run_cli


def read_pair(image_path: str, mask_path: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(image [3, S, S] in [-1, 1], mask [S, S] with 1 = known) at the model's size S; sizes must agree."""
    from .data.video import ImageReadError, read_image
    from .inpainting import check_mask

    def load(resize: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = read_image(image_path, size=resize), read_image(mask_path, size=resize)
        x = normalize_pixels(rearrange(torch.from_numpy(np.array(image)), "h w c -> c h w"))  # a copy: may be read-only
        return x, torch.from_numpy(mask.mean(-1) >= 128).float()

    try:
        x, known = load(None)
        check_mask(known, x)
        return (x, known) if x.shape[-2:] == (size, size) else load(size)
    except ImageReadError as e:
        raise T2VError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m t2v.inpaint", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--checkpoint", required=True, help="exported DCGAN directory (train.py writes OUTPUT/final)")
    p.add_argument("--image", required=True, help="the image to complete")
    p.add_argument("--mask", required=True, help="same size as --image: white = known, black = fill")
    p.add_argument("--text", help="caption, for a text-conditional model (required there)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--strip", help="also write [masked input | G(z) | result] to this PNG")
    p.add_argument("--steps", type=int, default=1500, help="Adam steps on z (default: %(default)s, as Yeh et al.)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate on z (default: %(default)s)")
    p.add_argument("--lam", type=float, default=0.003,
                   help="weight λ of the perceptual loss log(1 - D(G(z))) (default: %(default)s, as Yeh et al.)")
    p.add_argument("--candidates", type=int, default=8, help="z searched at once; the best is kept (default: 8)")
    p.add_argument("--window", type=int, default=0,
                   help="importance-weighted contextual loss with this window (Yeh et al.: 7); 0 = plain mask")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = p.parse_args(argv)

    from .data.video import write_png
    from .inpainting import inpaint
    from .pipelines import load_pipeline
    from .pipelines.base import to_uint8

    pipe = load_pipeline(a.checkpoint, device=a.device)
    if not hasattr(pipe, "discriminator"):
        raise CheckpointError(f"{a.checkpoint} is not a DCGAN export; inpainting needs a text-to-image (dcgan) model")
    if pipe.discriminator is None:
        raise CheckpointError(f"{a.checkpoint} has no discriminator.safetensors; re-export it with train.py")
    ids = text_mask = None
    if pipe.conditional:
        if not a.text:
            raise T2VError("this model is text-conditional: give the caption of the image with --text")
        text, unknown = pipe.clean_prompt(a.text)
        if unknown:
            print(f"warning: unknown words in {a.text!r} ignored: {', '.join(unknown)}")
        ids, text_mask = pipe.text_inputs([text])
    x, mask = read_pair(a.image, a.mask, pipe.config.model.size)
    result = inpaint(pipe.generator, pipe.discriminator, x, mask, ids, text_mask, steps=a.steps, lr=a.lr, lam=a.lam,
                     candidates=a.candidates, window=a.window, seed=a.seed)
    hwc = "c h w -> h w c"
    write_png(a.out, to_uint8(rearrange(result.image, hwc)))
    if a.strip:
        masked = rearrange(x * mask + (mask - 1), hwc)  # the missing region black
        panels = [to_uint8(masked), to_uint8(rearrange(result.generated, hwc)), to_uint8(rearrange(result.image, hwc))]
        write_png(a.strip, np.concatenate(panels, axis=1))
    c = result.contextual
    print(f"wrote {Path(a.out)} (contextual L1 {c[0]:.1f} -> {c[-1]:.1f} over {a.steps} steps)")
    return 0


if __name__ == "__main__":
    run_cli(main)
