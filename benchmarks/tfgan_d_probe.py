"""What a TFGAN checkpoint's discriminators can tell apart: their mean logits (frame D, video D) and the accuracy of
their AC-GAN heads on real training clips, the same clips blurred or shifted by one pixel, real clips with a wrong
caption, and G's clips (also blurred or shifted).

    python benchmarks/tfgan_d_probe.py --run runs/tfgan_shapes_g32cn --step 2000 [--batches 4] [--sigma 0.7 1.5]

A D that scores blurred real clips nearly as high as sharp ones cannot ask G for sharp edges, and on Moving Shapes
the edges are the shape: a 5-pixel square blurred by a Gaussian of sigma 1 is a disc. A head that reads G's clips
right but loses them to a one-pixel shift or a slight blur, while real clips keep their labels, reads a
pixel-aligned pattern G hides in its clips, not the shape.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def gaussian_blur(video, sigma: float):
    """[B, C, T, H, W] blurred in H and W by a separable Gaussian (radius 2 sigma, at least 1), edges replicated."""
    import torch
    import torch.nn.functional as F
    from einops import rearrange

    r = max(1, int(round(2 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=video.dtype) ** 2 / (2 * sigma * sigma))
    k = (k / k.sum()).to(video.device)
    b, c = video.shape[:2]
    x = rearrange(video, "b c t h w -> (b t) c h w")
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return rearrange(x, "(b t) c h w -> b c t h w", b=b)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="a TFGAN run directory (its config.json and checkpoints/)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--batches", type=int, default=4, help="training batches to average over")
    p.add_argument("--sigma", type=float, nargs="+", default=[0.7, 1.0, 1.5], help="blur strengths, in pixels")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import torch

    from t2v.config import load_config
    from t2v.errors import T2VError
    from t2v.training import Trainer
    from t2v.training.trainer import resolve_resume

    run = Path(a.run)
    scratch = tempfile.TemporaryDirectory()  # the trainer writes nothing before fit(); still, not into the run
    try:
        ckpt = resolve_resume(run, "latest" if a.step is None else str(run / "checkpoints" / f"step_{a.step:08d}"))
        if ckpt is None:
            raise SystemExit(f"error: {run} has no checkpoint")
        cfg = load_config(run / "config.json", ["data.num_workers=0", f"train.output_dir={scratch.name}",
                                                f"train.seed={a.seed}"])
        if cfg.recipe != "tfgan":
            raise SystemExit(f"error: {run} is a {cfg.recipe} run; this probe reads TFGAN discriminators")
        trainer = Trainer(cfg, resume=str(ckpt))
        trainer.load_checkpoint(trainer.resume_from)
    except T2VError as e:
        raise SystemExit(f"error: {e}") from None
    rec = trainer.recipe
    D, G = rec.unwrap("D").eval(), rec.unwrap("G").eval()
    heads = list(cfg.model.aux_labels)
    rows: dict[str, list[torch.Tensor]] = {}

    def judge(name: str, video, text, labels) -> None:
        out = D(video, [text], aux=bool(heads))
        ((f, v),), aux = out if heads else (out, {})
        vals = [f.float().mean(), v.float().mean()]
        vals += [(aux[h].argmax(1) == labels[:, i]).float().mean() for i, h in enumerate(heads)]
        rows.setdefault(name, []).append(torch.stack(vals))

    batches = trainer.batches()
    torch.manual_seed(a.seed)
    with torch.no_grad():
        for _ in range(a.batches):
            batch = next(batches)
            real = batch["pixels"]
            text = rec._text(batch["caption"], real.device)
            labels = batch["labels"].to(real.device) if heads else None
            judge("real", real, text, labels)
            for s in a.sigma:
                judge(f"real, blurred (sigma {s:g})", gaussian_blur(real, s), text, labels)
            judge("real, wrong caption", real, rec._text(batch["mismatched_caption"], real.device), labels)
            judge("real, shifted 1 px", real.roll((1, 1), (3, 4)), text, labels)
            fake = G(*text)["video"]
            judge("G (live)", fake, text, labels)
            for s in a.sigma:
                judge(f"G, blurred (sigma {s:g})", gaussian_blur(fake, s), text, labels)
            judge("G, shifted 1 px", fake.roll((1, 1), (3, 4)), text, labels)
    scratch.cleanup()
    print(f"{run} at step {trainer.step}: D's mean logits and head accuracy over {a.batches} batches of "
          f"{cfg.data.batch_size} training clips")
    cols = ["frame D", "video D"] + [f"head {h}" for h in heads]
    print("| clips | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, vals in rows.items():
        m = torch.stack(vals).mean(0).tolist()
        # the heads are text-free: with a wrong caption they read what they read on "real"
        heads_cells = ["(as real)"] * len(heads) if "wrong caption" in name else [f"{100 * x:.0f}%" for x in m[2:]]
        cells = [f"{x:+.2f}" for x in m[:2]] + heads_cells
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
