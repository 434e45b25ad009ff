"""Mode-coverage benchmark of the GAN objective catalogue on 2-D Gaussian mixtures.

    python -m t2v.benchmarks.modes [--objectives ...] [--datasets ring grid] [--steps N] [--seeds 0 1 2]
                                   [--out results.json] [--markdown results.md]

Datasets (as in the Unrolled GAN / VEEGAN / PacGAN papers): `ring`, 8 Gaussians on a circle of radius 2 with
σ = 0.02; `grid`, 25 Gaussians on {-4, -2, 0, 2, 4}² with σ = 0.05. Every objective trains the same MLP generator
(z ∈ R^16 → 64 → 64 → 2, ReLU) for the same number of generator steps (4000), batch (128) and seeds; the
discriminators are MLPs 2 → 64 → 64 → 1 (LeakyReLU 0.2). Each objective keeps its paper's settings (WGAN: RMSprop,
clip 0.01, 5 critic steps; WGAN-GP: Adam(β=(0, 0.9)), λ = 10, 5 critic steps; Unrolled: k = 5 steps continuing
D's Adam; EBGAN: margin 1, pull-away weight 0.1; InfoGAN: one categorical code with a class per mode, λ = 1;
GMMN: multi-bandwidth MMD, no discriminator; the rest Adam(β=(0.5, 0.999))) with one learning rate (1e-3, decayed
linearly to 0) for all. The default budget takes about 20 CPU minutes for both datasets and 3 seeds.

Metrics on `num_eval` = 2500 samples: a sample is high quality (HQ) if it lies within 3σ of its nearest mode
(98.9% of true samples do); a mode is covered if it holds >= `min_count` = 20 HQ samples; KL is KL(h || uniform)
of the histogram h of all samples over their nearest modes (PacGAN's "reverse KL"; 0 = perfectly balanced).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from ..errors import ConfigError, run_cli
from ..losses import (
    ADVERSARIAL_LOSSES,
    EBGANLoss,
    LatentCodes,
    OptimizerHint,
    QHead,
    clip_weights,
    get_adversarial_loss,
    gradient_penalty,
    info_loss,
    mmd_loss,
    reconstruction_energy,
    unrolled_generator_loss,
)
from ..losses.adversarial import DCGAN_ADAM

OBJECTIVES: list[str] = [*ADVERSARIAL_LOSSES, "ebgan", "infogan", "unrolled", "mmd"]


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic 2-D Gaussians."""

    name: str
    centers: Tensor  # [K, 2]
    std: float

    def sample(self, n: int) -> Tensor:
        idx = torch.randint(len(self.centers), (n,))
        return self.centers[idx] + self.std * torch.randn(n, 2)


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    angles = torch.arange(modes) * (2 * math.pi / modes)
    return Mixture("ring", radius * torch.stack([angles.cos(), angles.sin()], 1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    axis = (torch.arange(side) - (side - 1) / 2) * spacing
    return Mixture("grid", torch.cartesian_prod(axis, axis), std)


DATASETS: dict[str, Callable[[], Mixture]] = {"ring": ring, "grid": grid}


@dataclass
class BenchConfig:
    steps: int = 4000  # generator steps, the same for every objective
    batch: int = 128
    z_dim: int = 16
    width: int = 64
    lr: float = 1e-3  # one learning rate for G and D of every objective
    lr_decay: bool = True  # decay every learning rate linearly to 0 over the steps (sharpens the modes)
    unroll_steps: int = 5  # Unrolled GAN: k
    ebgan_margin: float = 1.0
    ebgan_pt_weight: float = 0.1
    info_weight: float = 1.0  # InfoGAN λ; its categorical code has one class per mode of the dataset
    num_eval: int = 2500
    min_count: int = 20


def _mlp(inputs: int, outputs: int, width: int, act: Callable[[], nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, width), act(), nn.Linear(width, width), act(), nn.Linear(width, outputs))


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _update(opt: torch.optim.Optimizer, loss: Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


class _Run:
    """One objective on one dataset: `step()` is one generator update (with its discriminator updates)."""

    def __init__(self, objective: str, data: Mixture, cfg: BenchConfig) -> None:
        self.data, self.cfg = data, cfg
        self.codes = LatentCodes([len(data.centers)]) if objective == "infogan" else None
        extra = self.codes.dim if self.codes else 0
        self.generator = _mlp(cfg.z_dim + extra, 2, cfg.width, nn.ReLU)
        self.optimizers: list[torch.optim.Optimizer] = []
        self.step = getattr(self, f"_setup_{self._family(objective)}")(objective)

    def optimizer(self, params: list[nn.Parameter], hint: OptimizerHint = DCGAN_ADAM) -> torch.optim.Optimizer:
        """Build (and register, for the learning-rate schedule) an optimiser at the benchmark's learning rate."""
        opt = hint.build(params, lr=self.cfg.lr)
        self.optimizers.append(opt)
        return opt

    def set_progress(self, fraction: float) -> None:
        if self.cfg.lr_decay:
            for opt in self.optimizers:
                for group in opt.param_groups:
                    group["lr"] = self.cfg.lr * (1.0 - fraction)

    @staticmethod
    def _family(objective: str) -> str:
        return "adversarial" if objective in ADVERSARIAL_LOSSES else objective

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, self.cfg.z_dim)

    def sample(self, n: int) -> Tensor:
        z = self.noise(n)
        if self.codes:
            z = torch.cat([z, self.codes.sample(n).vector], 1)
        return self.generator(z)

    def _setup_adversarial(self, objective: str) -> Callable[[], float]:
        cfg, loss = self.cfg, get_adversarial_loss(objective)
        disc = _mlp(2, 1, cfg.width, _lrelu)
        opt_d = self.optimizer(list(disc.parameters()), loss.optimizer)
        opt_g = self.optimizer(list(self.generator.parameters()), loss.optimizer)

        def step() -> float:
            for _ in range(loss.n_critic):
                real, fake = self.data.sample(cfg.batch), self.sample(cfg.batch).detach()
                d_loss = loss.d_loss(disc(real), disc(fake))
                if loss.gp_weight:
                    d_loss = d_loss + loss.gp_weight * gradient_penalty(disc, real, fake)
                _update(opt_d, d_loss)
                if loss.weight_clip:
                    clip_weights(disc, loss.weight_clip)
            g_loss = loss.g(disc(self.sample(cfg.batch)))
            _update(opt_g, g_loss)
            return g_loss.item()

        return step

    def _setup_unrolled(self, objective: str) -> Callable[[], float]:
        cfg, loss = self.cfg, get_adversarial_loss("non_saturating")
        disc = _mlp(2, 1, cfg.width, _lrelu)
        opt_d, opt_g = self.optimizer(list(disc.parameters())), self.optimizer(list(self.generator.parameters()))

        def step() -> float:
            real, fake = self.data.sample(cfg.batch), self.sample(cfg.batch)
            _update(opt_d, loss.d_loss(disc(real), disc(fake.detach())))
            g_loss = unrolled_generator_loss(
                disc, loss, real, fake, steps=cfg.unroll_steps, lr=opt_d.param_groups[0]["lr"], optimizer=opt_d
            )
            _update(opt_g, g_loss)
            return g_loss.item()

        return step

    def _setup_infogan(self, objective: str) -> Callable[[], float]:
        cfg, loss, codes = self.cfg, get_adversarial_loss("non_saturating"), self.codes
        assert codes is not None
        trunk = nn.Sequential(nn.Linear(2, cfg.width), _lrelu(), nn.Linear(cfg.width, cfg.width), _lrelu())
        head, q_head = nn.Linear(cfg.width, 1), QHead(cfg.width, codes, hidden=cfg.width)
        opt_d = self.optimizer([*trunk.parameters(), *head.parameters()])
        opt_g = self.optimizer([*self.generator.parameters(), *q_head.parameters()])

        def step() -> float:
            real = self.data.sample(cfg.batch)
            c = codes.sample(cfg.batch)
            fake = self.generator(torch.cat([self.noise(cfg.batch), c.vector], 1))
            _update(opt_d, loss.d_loss(head(trunk(real)), head(trunk(fake.detach()))))
            features = trunk(fake)
            g_loss = loss.g(head(features)) + cfg.info_weight * info_loss(q_head(features), c)
            _update(opt_g, g_loss)
            return g_loss.item()

        return step

    def _setup_ebgan(self, objective: str) -> Callable[[], float]:
        cfg = self.cfg
        loss = EBGANLoss(margin=cfg.ebgan_margin, pt_weight=cfg.ebgan_pt_weight)
        encoder = nn.Sequential(nn.Linear(2, cfg.width), _lrelu(), nn.Linear(cfg.width, 16))
        decoder = nn.Sequential(_lrelu(), nn.Linear(16, cfg.width), _lrelu(), nn.Linear(cfg.width, 2))
        opt_d = self.optimizer([*encoder.parameters(), *decoder.parameters()])
        opt_g = self.optimizer(list(self.generator.parameters()))

        def energy(x: Tensor) -> tuple[Tensor, Tensor]:
            h = encoder(x)
            return reconstruction_energy(decoder(h), x), h

        def step() -> float:
            real, fake = self.data.sample(cfg.batch), self.sample(cfg.batch)
            _update(opt_d, loss.d_loss(energy(real)[0], energy(fake.detach())[0]))
            g_loss = loss.g(*energy(fake))
            _update(opt_g, g_loss)
            return g_loss.item()

        return step

    def _setup_mmd(self, objective: str) -> Callable[[], float]:
        cfg = self.cfg
        opt_g = self.optimizer(list(self.generator.parameters()))

        def step() -> float:
            g_loss = mmd_loss(self.sample(cfg.batch), self.data.sample(cfg.batch))
            _update(opt_g, g_loss)
            return g_loss.item()

        return step


def mode_metrics(samples: Tensor, data: Mixture, min_count: int) -> dict[str, float]:
    """Modes covered, % high-quality samples (within 3σ of the nearest mode) and KL(mode histogram || uniform)."""
    k = len(data.centers)
    finite = torch.isfinite(samples).all(1)
    dist = torch.cdist(samples[finite], data.centers)
    nearest_dist, nearest = dist.min(1)
    good = nearest_dist <= 3 * data.std
    hq_counts = torch.bincount(nearest[good], minlength=k)
    hist = torch.bincount(nearest, minlength=k).double()
    if hist.sum() == 0:
        kl = math.log(k)
    else:
        p = hist / hist.sum()
        kl = float((p[p > 0] * (p[p > 0] * k).log()).sum())
    return {
        "modes": int((hq_counts >= min_count).sum()),
        "high_quality_pct": 100.0 * float(good.sum()) / len(samples),
        "kl": kl,
    }


def run_one(objective: str, dataset: str, seed: int, cfg: BenchConfig) -> dict:
    """Train `objective` on `dataset` from `seed` and measure its samples."""
    torch.manual_seed(seed)
    data = DATASETS[dataset]()
    run = _Run(objective, data, cfg)
    start, diverged = time.process_time(), False
    for i in range(cfg.steps):
        run.set_progress(i / cfg.steps)
        if not math.isfinite(run.step()):
            diverged = True
            break
    cpu_s = time.process_time() - start
    with torch.no_grad():
        samples = run.sample(cfg.num_eval)
    result = {"objective": objective, "dataset": dataset, "seed": seed, "cpu_s": round(cpu_s, 2), "diverged": diverged}
    return result | mode_metrics(samples, data, cfg.min_count)


def summarize(results: list[dict]) -> list[dict]:
    """Mean over seeds of each (objective, dataset)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["objective"], r["dataset"]), []).append(r)
    rows = []
    for (objective, dataset), rs in groups.items():
        mean = {k: sum(r[k] for r in rs) / len(rs) for k in ("modes", "high_quality_pct", "kl", "cpu_s")}
        rows.append({"objective": objective, "dataset": dataset, "seeds": len(rs),
                     "diverged": sum(r["diverged"] for r in rs)} | mean)
    return rows


def markdown_table(summary: list[dict], cfg: BenchConfig) -> str:
    datasets = list(dict.fromkeys(r["dataset"] for r in summary))
    objectives = list(dict.fromkeys(r["objective"] for r in summary))
    by_key = {(r["objective"], r["dataset"]): r for r in summary}
    head = "| objective |" + "".join(
        f" {d}: modes (/{len(DATASETS[d]().centers)}) | {d}: HQ % | {d}: KL |" for d in datasets
    ) + " CPU s / run |"
    lines = [head, "|---|" + "---:|" * (3 * len(datasets) + 1)]
    for obj in objectives:
        cells, cpu = [], []
        for d in datasets:
            r = by_key.get((obj, d))
            if r is None:
                cells += ["–"] * 3
                continue
            flag = f" ({r['diverged']} diverged)" if r["diverged"] else ""
            cells += [f"{r['modes']:.1f}{flag}", f"{r['high_quality_pct']:.1f}", f"{r['kl']:.2f}"]
            cpu.append(r["cpu_s"])
        lines.append(f"| {obj} | " + " | ".join(cells) + f" | {sum(cpu) / max(len(cpu), 1):.1f} |")
    seeds = max(r["seeds"] for r in summary)
    lines.append("")
    lines.append(
        f"Mean over {seeds} seed(s); {cfg.steps} generator steps, batch {cfg.batch}, lr {cfg.lr}, "
        f"{cfg.num_eval} samples; HQ = within 3σ of a mode; a mode is covered with >= {cfg.min_count} HQ samples; "
        "KL = KL(histogram of samples over nearest modes || uniform)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m t2v.benchmarks.modes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = BenchConfig()
    parser.add_argument("--objectives", nargs="+", default=OBJECTIVES, help=f"any of: {' '.join(OBJECTIVES)}")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), help="ring and/or grid")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--width", type=int, default=defaults.width, help="hidden units of every MLP")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--no-lr-decay", action="store_true", help="keep the learning rate constant")
    parser.add_argument("--unroll-steps", type=int, default=defaults.unroll_steps)
    parser.add_argument("--num-eval", type=int, default=defaults.num_eval)
    parser.add_argument("--min-count", type=int, default=defaults.min_count)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="write all runs and the summary as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    bad = [o for o in args.objectives if o not in OBJECTIVES] or [d for d in args.datasets if d not in DATASETS]
    if bad:
        valid = f"objectives: {', '.join(OBJECTIVES)}; datasets: {', '.join(DATASETS)}"
        raise ConfigError(f"unknown objective or dataset {bad[0]!r}; {valid}")
    if args.steps < 1 or args.batch < 2 or args.num_eval < 1:
        raise ConfigError("--steps and --num-eval must be >= 1 and --batch >= 2")
    torch.set_num_threads(args.threads)
    cfg = BenchConfig(
        steps=args.steps, batch=args.batch, width=args.width, lr=args.lr, lr_decay=not args.no_lr_decay,
        unroll_steps=args.unroll_steps, num_eval=args.num_eval, min_count=args.min_count,
    )
    results = []
    for dataset in args.datasets:
        for objective in args.objectives:
            for seed in args.seeds:
                r = run_one(objective, dataset, seed, cfg)
                results.append(r)
                status = "  DIVERGED" if r["diverged"] else ""
                print(
                    f"{dataset:5s} {objective:16s} seed {seed}: modes {r['modes']:2d}  "
                    f"HQ {r['high_quality_pct']:5.1f}%  KL {r['kl']:.3f}  {r['cpu_s']:.1f} CPU s{status}",
                    flush=True,
                )
    summary = summarize(results)
    table = markdown_table(summary, cfg)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {"config": asdict(cfg), "seeds": args.seeds, "summary": summary, "runs": results}
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
