"""Forward + backward time of the TFGAN frame decoder on CPU: no norm, GroupNorm as torch runs it on channels-last
maps, the project's NCHWGroupNorm (the same norm through a channels-first copy), and the conditional norm.

    python benchmarks/tfgan_decoder_speed.py [--frames 128] [--threads 1] [--widths 16 32 64] [--repeat 5]

One row per (width, norm): the best of --repeat runs, bf16 autocast as `train.mixed_precision=bf16`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=128, help="frames per call (batch x clip length)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    import torch
    from torch import nn

    from t2v.models.tfgan import FrameDecoder, TFGANModelConfig
    from t2v.nn import NCHWGroupNorm

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    def timed(dec: nn.Module, code: torch.Tensor) -> float:
        best = float("inf")
        for _ in range(a.repeat + 1):  # the first call warms up oneDNN
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = dec(code)
            out.float().mean().backward()
            best = min(best, time.perf_counter() - t)
        return best * 1000

    def plain_group_norm(dec: nn.Module) -> nn.Module:
        """The same decoder with torch's GroupNorm (channels-last in, channels-last backward)."""
        for m in list(dec.modules()):
            for name, child in list(m.named_children()):
                if isinstance(child, NCHWGroupNorm):
                    ref = nn.GroupNorm(child.num_groups, child.num_channels, child.eps, child.affine)
                    ref.load_state_dict(child.state_dict())
                    setattr(m, name, ref)
        return dec

    rows = []
    for width in a.widths:
        variants = [("none", {}, False), ("GroupNorm (torch, channels-last)", {"gen_norm": "group"}, True),
                    ("NCHWGroupNorm", {"gen_norm": "group"}, False),
                    ("conditional NCHWGroupNorm", {"gen_norm": "group", "gen_cond_norm": True}, False)]
        for label, kw, torch_gn in variants:
            cfg = TFGANModelConfig(gen_channels=width, **kw)
            dec = FrameDecoder(cfg)
            if torch_gn:
                dec = plain_group_norm(dec)
            code = torch.randn(a.frames, cfg.content_dim + cfg.cond_dim + cfg.motion_dim)
            rows.append((width, label, timed(dec, code)))
    print(f"TFGAN frame decoder, fwd + bwd of {a.frames} frames at 64x64, bf16 autocast, {a.threads} CPU thread(s), "
          f"best of {a.repeat}")
    print("| gen_channels | norm | ms |")
    print("|---:|---|---:|")
    for width, label, ms in rows:
        print(f"| {width} | {label} | {ms:.0f} |")


if __name__ == "__main__":
    main()
