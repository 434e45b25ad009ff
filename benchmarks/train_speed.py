"""Training steps/s of a recipe on this machine (default: configs/t2v_scenes.yaml), from real data.

    python benchmarks/train_speed.py [--config configs/t2v_scenes.yaml] [--steps 10] [--threads N] [k=v ...]
Runs the real Trainer for a few steps in a temp dir (no checkpoints, no previews) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs/t2v_scenes.yaml"))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    import torch

    from t2v.config import load_config
    from t2v.training import Trainer

    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(a.config, [*a.overrides, f"train.output_dir={tmp}", f"train.max_steps={a.steps}",
                                     "train.sample_every=0", "train.checkpoint_every=0", "train.log_every=1"])
        cfg.train.checkpoint_every = 0
        trainer = Trainer(cfg)
        t = time.perf_counter()
        trainer.fit()
        total = time.perf_counter() - t
        rows = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    warm = [r["steps_per_s"] for r in rows[2:]] or [r["steps_per_s"] for r in rows]
    warm.sort()
    print("| config | batch | threads | steps | median steps/s (after 2 warm-up steps) | clips/s | wall incl. setup+export |")
    print("|---|---|---|---|---|---|---|")
    med = warm[len(warm) // 2]
    print(f"| {Path(a.config).name} | {cfg.data.batch_size} | {torch.get_num_threads()} | {a.steps} | {med:.3f} | "
          f"{med * cfg.data.batch_size:.1f} | {total:.0f} s |")


if __name__ == "__main__":
    main()
