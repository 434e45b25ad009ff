"""Train-step speed of our DCGAN on CPU next to the reference PyTorch DCGAN example, at identical architecture.

    python benchmarks/dcgan_speed.py [--threads 1] [--batch 64] [--size 64] [--ngf 64] [--steps 5] [--rounds 3]

One step = the D update (real + fake) and the G update, on a fixed random batch (no data loading), unconditional,
z_dim 100, ngf = ndf (64 = the classic widths: G 3,576,704 and D 2,765,568 parameters, as pytorch/examples/dcgan).
Rows:
- `reference`: the loop body of pytorch/examples dcgan/main.py on the same networks: sigmoid + BCELoss with label
  tensors, D's weight gradients also computed in the G backward, three `.item()` calls, default (for-loop) Adam;
- `ours`: DCGANRecipe.train_step (what train.py runs) for channels_last off/on x Adam for-loop / foreach / fused.
Variants are timed in interleaved rounds (so a load change on a shared machine hits them all alike). The table
gives the median CPU time per step (process time: on a machine shared with other jobs it counts only the work of
this process) and the images/s and speed-up over the reference it implies, next to the median wall time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402


def reference_step(G: nn.Module, D: nn.Module, z_dim: int) -> Callable[[torch.Tensor], None]:
    """The pytorch/examples DCGAN training iteration (D ends in a sigmoid there; here sigmoid(logit))."""
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def netD(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(D(x))

    def step(real: torch.Tensor) -> None:
        D.zero_grad()
        b = real.size(0)
        label = torch.full((b,), 1.0, dtype=real.dtype)
        output = netD(real)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        output.mean().item()
        fake = G(torch.randn(b, z_dim))
        label.fill_(0.0)
        output = netD(fake.detach())
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        output.mean().item()
        opt_d.step()
        G.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        err_g = criterion(output, label)
        err_g.backward()
        output.mean().item()
        opt_g.step()

    return step


def ours_step(cfg, accelerator) -> Callable[[torch.Tensor], None]:
    from t2v.training.recipes.dcgan import DCGANRecipe

    recipe = DCGANRecipe(cfg, accelerator)
    recipe.build(None)
    counter = iter(range(10**9))
    return lambda real: recipe.train_step({"pixels": real}, next(counter))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--ngf", type=int, default=64, help="ngf = ndf (default: 64, the classic widths)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per variant first")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from accelerate import Accelerator

    from t2v.config import build_config
    from t2v.models.dcgan import DCGANDiscriminator, DCGANGenerator

    accelerator = Accelerator(cpu=True)

    def config(channels_last: bool = False, adam: str = "for-loop"):
        return build_config({"recipe": "dcgan", "model": {
            "size": a.size, "ngf": a.ngf, "ndf": a.ngf, "conditional": False, "channels_last": channels_last,
            "adam": adam}})

    torch.manual_seed(0)
    G, D = DCGANGenerator(config().model), DCGANDiscriminator(config().model)
    n_g, n_d = (sum(q.numel() for q in m.parameters()) for m in (G, D))
    variants: dict[str, Callable[[torch.Tensor], None]] = {
        "reference (pytorch/examples loop)": reference_step(G, D, 100)}
    for channels_last in (False, True):
        for adam in ("for-loop", "foreach", "fused"):
            torch.manual_seed(0)
            variants[f"ours, channels_last={'on' if channels_last else 'off'}, Adam {adam}"] = ours_step(
                config(channels_last, adam), accelerator)
    real = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1
    for step in variants.values():
        for _ in range(a.warmup):
            step(real)
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(a.rounds):
        for name, step in variants.items():
            for _ in range(a.steps):
                t, c = time.perf_counter(), time.process_time()
                step(real)
                cpu[name].append(time.process_time() - c)
                wall[name].append(time.perf_counter() - t)
    ref = statistics.median(cpu[next(iter(variants))])
    print(f"DCGAN train step (D + G update), {a.size}x{a.size}, batch {a.batch}, ngf = ndf = {a.ngf} "
          f"(G {n_g:,} / D {n_d:,} parameters), CPU, {torch.get_num_threads()} thread(s), torch {torch.__version__}; "
          f"median of {a.rounds} x {a.steps} steps")
    print("| variant | CPU ms/step | images/s (CPU time) | vs reference | wall ms/step |")
    print("|---|---|---|---|---|")
    for name, ts in cpu.items():
        med = statistics.median(ts)
        print(f"| {name} | {1000 * med:.0f} | {a.batch / med:.1f} | {ref / med:.2f}x | "
              f"{1000 * statistics.median(wall[name]):.0f} |")


if __name__ == "__main__":
    main()
