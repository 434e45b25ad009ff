"""Mode-coverage benchmark of the GAN objective catalogue on 2-D Gaussian mixtures.

    python -m t2v.benchmarks.modes [--objectives ...] [--datasets ring grid] [--steps N] [--seeds 0] [--jobs N]
                                   [--out results.json] [--markdown results.md] [--plots DIR]

Datasets: `ring`, 8 Gaussians on a circle of radius 2 with σ = 0.02 (Metz et al. 2017, Unrolled GAN);
`grid`, 25 Gaussians on {-4, -2, 0, 2, 4}² with σ = 0.05 (VEEGAN, PacGAN; Gulrajani et al.'s 25 Gaussians
before rescaling). G as in Metz et al.: an MLP z ∈ R^256 -> 128 -> 128 -> 2 (ReLU); D an MLP 2 -> 128 -> 128 -> 1
(ReLU; Metz et al.'s has one hidden layer). Every objective gets the same generator steps, batch and seeds, and the
optimiser of its own paper (`OptimizerHint` of the catalogue): WGAN RMSprop(5e-5), clip 0.01, 5 critic steps;
WGAN-GP Adam(1e-4, β=(0, 0.9)), λ = 10, 5 critic steps; Unrolled GAN: the minimax objective with k = 5
unrolled D steps continuing D's Adam, Adam(1e-4, β1 = 0.5) as Metz et al.; every other objective the DCGAN
setting Adam(2e-4, β1 = 0.5). EBGAN: margin 1, pull-away weight 0.1; InfoGAN: the non-saturating GAN plus one
categorical code with one class per mode of the dataset, λ = 1; GMMN: multi-bandwidth MMD, no discriminator.

Metrics on `num_eval` = 2500 samples: a sample is high quality (HQ) if it lies within 3σ of its nearest mode
(98.9% of true samples do); a mode is covered if it holds >= `min_count` = 20 HQ samples; KL is KL(h || uniform)
of the histogram h of all samples over their nearest modes (PacGAN's "reverse KL"; 0 = perfectly balanced).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
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
METZ_ADAM = OptimizerHint("adam", 1e-4, (0.5, 0.999))  # Unrolled GAN (Metz et al. 2017, appendix)


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
    steps: int = 10000  # generator steps, the same for every objective
    batch: int = 256
    z_dim: int = 256
    width: int = 128
    lr: float | None = None  # None: every objective's own paper setting; a number replaces every learning rate
    unroll_steps: int = 5  # Unrolled GAN: k
    ebgan_margin: float = 1.0
    ebgan_pt_weight: float = 0.1
    info_weight: float = 1.0  # InfoGAN λ; its categorical code has one class per mode of the dataset
    num_eval: int = 2500
    min_count: int = 20
    eval_every: int = 2000  # also measure every this many steps (the JSON keeps the curve); 0 = only at the end


def _mlp(inputs: int, outputs: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, outputs))


def _update(opt: torch.optim.Optimizer, loss: Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def optimizer_hint(objective: str) -> OptimizerHint:
    """The optimiser an objective trains with in this benchmark (its paper's)."""
    if objective in ADVERSARIAL_LOSSES:
        return get_adversarial_loss(objective).optimizer
    return METZ_ADAM if objective == "unrolled" else DCGAN_ADAM


def describe_optimizer(hint: OptimizerHint, lr: float | None = None) -> str:
    lr = hint.lr if lr is None else lr
    if hint.name == "rmsprop":
        return f"RMSprop({lr:g})"
    return f"Adam({lr:g}, β=({hint.betas[0]:g}, {hint.betas[1]:g}))"


class _Run:
    """One objective on one dataset: `step()` is one generator update (with its discriminator updates)."""

    def __init__(self, objective: str, data: Mixture, cfg: BenchConfig) -> None:
        self.data, self.cfg = data, cfg
        self.hint = optimizer_hint(objective)
        self.codes = LatentCodes([len(data.centers)]) if objective == "infogan" else None
        extra = self.codes.dim if self.codes else 0
        self.generator = _mlp(cfg.z_dim + extra, 2, cfg.width)
        family = "adversarial" if objective in ADVERSARIAL_LOSSES else objective
        self.step: Callable[[], float] = getattr(self, f"_setup_{family}")(objective)

    def optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return self.hint.build(params, lr=self.cfg.lr)

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, self.cfg.z_dim)

    def sample(self, n: int) -> Tensor:
        z = self.noise(n)
        if self.codes:
            z = torch.cat([z, self.codes.sample(n).vector], 1)
        return self.generator(z)

    def _setup_adversarial(self, objective: str) -> Callable[[], float]:
        cfg, loss = self.cfg, get_adversarial_loss(objective)
        disc = _mlp(2, 1, cfg.width)
        opt_d, opt_g = self.optimizer(list(disc.parameters())), self.optimizer(list(self.generator.parameters()))

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
        cfg, loss = self.cfg, get_adversarial_loss("minimax")
        disc = _mlp(2, 1, cfg.width)
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
        trunk = nn.Sequential(nn.Linear(2, cfg.width), nn.ReLU(), nn.Linear(cfg.width, cfg.width), nn.ReLU())
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
        encoder = nn.Sequential(nn.Linear(2, cfg.width), nn.ReLU(), nn.Linear(cfg.width, cfg.width))
        decoder = nn.Sequential(nn.ReLU(), nn.Linear(cfg.width, cfg.width), nn.ReLU(), nn.Linear(cfg.width, 2))
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


def run_one(objective: str, dataset: str, seed: int, cfg: BenchConfig) -> tuple[dict, Tensor]:
    """Train `objective` on `dataset` from `seed`; its metrics and its `num_eval` samples."""
    torch.manual_seed(seed)
    data = DATASETS[dataset]()
    run = _Run(objective, data, cfg)
    start, diverged, curve = time.process_time(), False, []
    for step in range(1, cfg.steps + 1):
        if not math.isfinite(run.step()):
            diverged = True
            break
        if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
            with torch.no_grad():
                curve.append({"step": step} | mode_metrics(run.sample(cfg.num_eval), data, cfg.min_count))
    cpu_s = time.process_time() - start
    with torch.no_grad():
        samples = run.sample(cfg.num_eval)
    result = {"objective": objective, "dataset": dataset, "seed": seed, "cpu_s": round(cpu_s, 2), "diverged": diverged}
    result |= mode_metrics(samples, data, cfg.min_count)
    return result | ({"curve": curve} if curve else {}), samples


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
    head = "| objective | optimiser |" + "".join(
        f" {d}: modes (/{len(DATASETS[d]().centers)}) | {d}: HQ % | {d}: KL |" for d in datasets
    ) + " CPU s / run |"
    lines = [head, "|---|---|" + "---:|" * (3 * len(datasets) + 1)]
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
        opt = describe_optimizer(optimizer_hint(obj), cfg.lr)
        lines.append(f"| {obj} | {opt} | " + " | ".join(cells) + f" | {sum(cpu) / max(len(cpu), 1):.0f} |")
    seeds = max(r["seeds"] for r in summary)
    lines.append("")
    lines.append(
        f"Mean over {seeds} seed(s); {cfg.steps} generator steps, batch {cfg.batch}, z ∈ R^{cfg.z_dim}, MLPs of "
        f"width {cfg.width}; {cfg.num_eval} samples; HQ = within 3σ of a mode; a mode is covered with >= "
        f"{cfg.min_count} HQ samples; KL = KL(histogram of samples over nearest modes || uniform)."
    )
    return "\n".join(lines)


def scatter_panels(panels: list[Tensor], data: Mixture, size: int = 160, columns: int = 4) -> np.ndarray:
    """An RGB image [H, W, 3] of 2-D sample sets side by side (black points, the mixture's means in red)."""
    extent = 1.3 * float(data.centers.abs().max())

    def to_pixels(points: Tensor) -> tuple[np.ndarray, np.ndarray]:
        pts = points[torch.isfinite(points).all(1)].numpy()
        ij = np.round((pts * [1, -1] + extent) / (2 * extent) * (size - 1)).astype(np.int64)
        keep = ((ij >= 0) & (ij < size)).all(1)
        return ij[keep, 1], ij[keep, 0]

    tiles = []
    for points in panels:
        tile = np.full((size, size, 3), 255, np.uint8)
        tile[to_pixels(points)] = 0
        rows, cols = to_pixels(data.centers)
        for dr in (-1, 0, 1):
            tile[np.clip(rows + dr, 0, size - 1), cols] = (220, 30, 30)
            tile[rows, np.clip(cols + dr, 0, size - 1)] = (220, 30, 30)
        tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=160))
    tiles += [np.full_like(tiles[0], 160)] * (-len(tiles) % columns)
    return np.concatenate([np.concatenate(tiles[i : i + columns], 1) for i in range(0, len(tiles), columns)], 0)


def _print_run(r: dict) -> None:
    head = f"{r['dataset']:5s} {r['objective']:16s} seed {r['seed']}"
    for c in r.get("curve", []):
        print(f"{head} step {c['step']}: modes {c['modes']:2d}  HQ {c['high_quality_pct']:5.1f}%  KL {c['kl']:.3f}")
    status = "  DIVERGED" if r["diverged"] else ""
    print(f"{head}: modes {r['modes']:2d}  HQ {r['high_quality_pct']:5.1f}%  KL {r['kl']:.3f}  {r['cpu_s']:.1f} CPU s"
          f"{status}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m t2v.benchmarks.modes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = BenchConfig()
    parser.add_argument("--objectives", nargs="+", default=OBJECTIVES, help=f"any of: {' '.join(OBJECTIVES)}")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), help="ring and/or grid")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--width", type=int, default=defaults.width, help="hidden units of every MLP")
    parser.add_argument("--lr", type=float, help="one learning rate for every objective (default: each its paper's)")
    parser.add_argument("--unroll-steps", type=int, default=defaults.unroll_steps)
    parser.add_argument("--num-eval", type=int, default=defaults.num_eval)
    parser.add_argument("--min-count", type=int, default=defaults.min_count)
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every,
                        help="also measure every N steps (kept in --out; 0 = only at the end)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of each run")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained in parallel processes")
    parser.add_argument("--out", type=Path, help="write all runs and the summary as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    parser.add_argument("--plots", type=Path, help="write modes.<dataset>.png (first seed, objectives in table order)")
    args = parser.parse_args(argv)
    bad = [o for o in args.objectives if o not in OBJECTIVES] or [d for d in args.datasets if d not in DATASETS]
    if bad:
        valid = f"objectives: {', '.join(OBJECTIVES)}; datasets: {', '.join(DATASETS)}"
        raise ConfigError(f"unknown objective or dataset {bad[0]!r}; {valid}")
    if args.steps < 1 or args.batch < 2 or args.num_eval < 1 or args.jobs < 1:
        raise ConfigError("--steps, --num-eval and --jobs must be >= 1 and --batch >= 2")
    cfg = BenchConfig(
        steps=args.steps, batch=args.batch, width=args.width, lr=args.lr, unroll_steps=args.unroll_steps,
        num_eval=args.num_eval, min_count=args.min_count, eval_every=args.eval_every,
    )
    tasks = [(o, d, s) for d in args.datasets for o in args.objectives for s in args.seeds]
    outputs: dict[tuple[str, str, int], tuple[dict, Tensor]] = {}
    with ProcessPoolExecutor(args.jobs, initializer=torch.set_num_threads, initargs=(args.threads,)) as pool:
        futures = {pool.submit(run_one, *task, cfg): task for task in tasks}
        for future in as_completed(futures):
            r, samples = outputs[futures[future]] = future.result()
            _print_run(r)
    results = [outputs[task][0] for task in tasks]
    if args.plots:
        from ..data.video import write_png

        for d in args.datasets:
            panels = [outputs[(o, d, args.seeds[0])][1] for o in args.objectives]
            print(f"wrote {write_png(args.plots / f'modes.{d}.png', scatter_panels(panels, DATASETS[d]()))}")
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
