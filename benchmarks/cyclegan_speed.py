"""CPU speed of one full CycleGAN training step (both G updates, both D updates, pools), ms/step, as a table.

    python benchmarks/cyclegan_speed.py [--size 64] [--blocks 6] [--batch 1 4] [--steps 10] [--threads 1]

Architecture as the reference implementation's defaults (junyanz/pytorch-CycleGAN-and-pix2pix: resnet_6blocks,
ngf = ndf = 64, 70x70 PatchGAN, instance norm, LSGAN, pool of 50, Adam 2e-4): the same modules for every row.
Rows:
- `reference order`: a transcription of the reference `optimize_parameters` (six separate G calls, D on real and
  fake separately, Adam with torch's CPU default: the single-tensor loop, NCHW tensors);
- `t2v recipe`: the real CycleGANRecipe.train_step under accelerate (A and B batched through each G, real and
  pooled fake batched through each D), with each Adam implementation and with channels_last on / off.
Inputs are random images (the step's cost does not depend on them); the pools are filled before timing, so the
timed steps do the pool's swap work. Median over `--steps` steps after 2 warm-up steps of the process CPU time
(robust on a shared machine; with one thread it equals the wall time of an idle machine) and of the wall time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reference_step(nets: dict, opts: dict, pools: dict, real_a, real_b, lam: float = 10.0, lam_idt: float = 0.5):
    """The reference CycleGANModel.optimize_parameters, line for line (LSGAN: MSE against 1 / 0)."""
    import torch
    import torch.nn.functional as F

    def gan(pred, target: bool):
        return F.mse_loss(pred, torch.ones_like(pred) if target else torch.zeros_like(pred))

    G_A, G_B, D_A, D_B = nets["G_AB"], nets["G_BA"], nets["D_B"], nets["D_A"]  # reference names: D_A judges B
    fake_b = G_A(real_a)
    rec_a = G_B(fake_b)
    fake_a = G_B(real_b)
    rec_b = G_A(fake_a)
    for p in [*D_A.parameters(), *D_B.parameters()]:
        p.requires_grad_(False)
    opts["G"].zero_grad()
    idt_a = G_A(real_b)
    loss_idt_a = F.l1_loss(idt_a, real_b) * lam * lam_idt
    idt_b = G_B(real_a)
    loss_idt_b = F.l1_loss(idt_b, real_a) * lam * lam_idt
    loss_g = (gan(D_A(fake_b), True) + gan(D_B(fake_a), True) + F.l1_loss(rec_a, real_a) * lam
              + F.l1_loss(rec_b, real_b) * lam + loss_idt_a + loss_idt_b)
    loss_g.backward()
    opts["G"].step()
    for p in [*D_A.parameters(), *D_B.parameters()]:
        p.requires_grad_(True)
    opts["D"].zero_grad()
    for D, real, fake in ((D_A, real_b, pools["B"].query(fake_b)), (D_B, real_a, pools["A"].query(fake_a))):
        loss_d = (gan(D(real), True) + gan(D(fake.detach()), False)) * 0.5
        loss_d.backward()
    opts["D"].step()


def build(blocks: int, adam: str, channels_last: bool, reference: bool):
    """A CycleGANRecipe with prepared nets/opts (no dataset: the benchmark feeds random batches)."""
    import torch
    from accelerate import Accelerator

    from t2v.config import build_config
    from t2v.training.recipes.cyclegan import CycleGANRecipe
    from t2v.training.trainer import _reset_single_process_state

    cfg = build_config({"recipe": "cyclegan", "train": {"max_steps": 1000}, "model": {
        "generator": {"n_blocks": blocks}, "adam": adam, "channels_last": channels_last}})
    _reset_single_process_state()
    acc = Accelerator(cpu=True)
    recipe = CycleGANRecipe(cfg, acc)
    recipe.build(None)
    if reference:  # torch's default Adam on CPU tensors: the single-tensor loop
        G = [*recipe.nets["G_AB"].parameters(), *recipe.nets["G_BA"].parameters()]
        D = [*recipe.nets["D_A"].parameters(), *recipe.nets["D_B"].parameters()]
        recipe.opts = {"G": torch.optim.Adam(G, lr=2e-4, betas=(0.5, 0.999)),
                       "D": torch.optim.Adam(D, lr=2e-4, betas=(0.5, 0.999))}
    names, onames = list(recipe.nets), list(recipe.opts)
    prepared = acc.prepare(*recipe.nets.values(), *recipe.opts.values())
    recipe.nets = dict(zip(names, prepared[: len(names)]))
    recipe.opts = dict(zip(onames, prepared[len(names):]))
    return recipe


def time_variant(size: int, blocks: int, batch: int, adam: str, channels_last: bool, reference: bool,
                 steps: int) -> tuple[float, float]:
    import torch

    torch.manual_seed(0)
    recipe = build(blocks, adam, channels_last, reference)
    for pool in recipe.pools.values():  # a full pool: timed steps include its swaps
        pool.images = [torch.rand(3, size, size) * 2 - 1 for _ in range(pool.size)]
    cpu, wall = [], []
    for i in range(steps + 2):
        a, b = torch.rand(2, batch, 3, size, size).mul(2).sub(1).unbind(0)
        c, t = time.process_time(), time.perf_counter()
        if reference:
            reference_step(recipe.nets, recipe.opts, recipe.pools, a, b)
        else:
            recipe.train_step({"A": a, "B": b}, i)
        if i >= 2:
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=64, help="crop size (the images of one step)")
    p.add_argument("--blocks", type=int, default=6, help="residual blocks of G")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    p.add_argument("--steps", type=int, default=10, help="timed steps per row (after 2 warm-up steps)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    variants = [("reference order", "single_tensor", False, True),
                ("t2v recipe", "single_tensor", False, False),
                ("t2v recipe", "foreach", False, False),
                ("t2v recipe", "fused", False, False),
                ("t2v recipe", "foreach", True, False),
                ("t2v recipe", "fused", True, False)]
    print(f"CycleGAN train step, {a.size}x{a.size}, resnet_{a.blocks}blocks, ngf=ndf=64, "
          f"torch {torch.__version__}, {a.threads} thread(s)")
    print("| step | Adam | channels_last | " + " | ".join(f"batch {b}: CPU ms/step (speed-up), wall ms" for b in a.batch)
          + " |")
    print("|---|---|---|" + "---|" * len(a.batch))
    base = {}
    for name, adam, cl, ref in variants:
        cells = []
        for b in a.batch:
            cpu, wall = time_variant(a.size, a.blocks, b, adam, cl, ref, a.steps)
            base.setdefault(b, cpu)
            cells.append(f"{cpu:.0f} ({base[b] / cpu:.2f}x), {wall:.0f}")
        print(f"| {name} | {adam} | {'on' if cl else 'off'} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
