"""How long should the DCGAN's EMA of G average? Resume a run and keep several EMAs of G side by side.

    python benchmarks/dcgan_ema_horizon.py --config runs/dcgan_scenes_aux3/config.json \
        --resume runs/dcgan_scenes_aux3/checkpoints/step_00002000 --out runs/dcgan_scenes_emasweep

The run goes on to train.max_steps under its own config. The extra averages only read G after each step, so they
leave training as it is; each is the trainer's EMA for one (ema_start, ema_decay) pair ("uniform": the plain mean of
G from ema_start). OUT/emas/ema_START_DECAY_stepN.safetensors holds each at the marks. To judge one, put it in a copy
of the checkpoint at step N as ema_G.safetensors and export that copy
(`python train.py --config OUT/config.json --resume COPY train.max_steps=N train.output_dir=D`), which re-estimates
the BatchNorm statistics as every export does, then run `python -m t2v.evaluation evaluate --model D/final ...`.
Results of 2026-11-28: benchmarks/results/dcgan_scenes_ema_horizon.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ARMS = [(2000, 0.999), (2000, 0.9995), (2000, 0.9998), (2000, "uniform"),
        (3000, 0.999), (3000, 0.9995), (3000, "uniform"), (4000, 0.999), (4000, "uniform")]
MARKS = (3000, 3500, 4000, 4500, 5000)


def main() -> int:
    from safetensors.torch import save_file

    from t2v.config import load_config
    from t2v.training import Trainer
    from t2v.training.ema import EMA

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="the run's config.json")
    p.add_argument("--resume", required=True, help="checkpoint to start from (before the earliest ema_start)")
    p.add_argument("--out", required=True, help="new run directory")
    a = p.parse_args()
    out = Path(a.out)
    cfg = load_config(a.config, [f"train.output_dir={out}", "data.num_workers=0", "train.keep_last=20"])
    trainer = Trainer(cfg, resume=a.resume)
    G = trainer.recipe.unwrap("G")
    emas = [EMA(G, 0.0) for _ in ARMS]
    (out / "emas").mkdir(parents=True, exist_ok=True)
    train_step = trainer.recipe.train_step

    def step(batch, s):
        logs = train_step(batch, s)
        for (start, decay), ema in zip(ARMS, emas):
            if s < start:
                ema.update(G, 0.0)  # a copy until the average starts, as train.ema_start does
            else:
                ema.update(G, 1.0 - 1.0 / (s - start + 2) if decay == "uniform" else decay)
        if s + 1 in MARKS:
            for (start, decay), ema in zip(ARMS, emas):
                save_file({k: v.detach().cpu().contiguous() for k, v in ema.state_dict().items()},
                          str(out / "emas" / f"ema_{start}_{decay}_step{s + 1}.safetensors"))
        return logs

    trainer.recipe.train_step = step
    trainer.fit()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from t2v.errors import run_cli

    run_cli(main)
