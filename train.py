"""Train any t2v recipe: python train.py --config configs/X.yaml [--output-dir D] [--max-steps N] [--resume [PATH]] [k=v ...]

With no --config it trains the default text-to-video recipe (configs/t2v_scenes.yaml).
Works the same under `accelerate launch`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "t2v_scenes.yaml"


def main() -> int:
    from t2v.config import load_config

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="recipe YAML (default: %(default)s)")
    p.add_argument("--output-dir", help="run directory (overrides train.output_dir)")
    p.add_argument("--max-steps", type=int, help="overrides train.max_steps")
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], help="overrides train.mixed_precision")
    p.add_argument("--resume", nargs="?", const="latest", help="resume from the latest checkpoint or from PATH")
    p.add_argument("overrides", nargs="*", help="key.sub=value config overrides")
    a = p.parse_args()
    overrides = list(a.overrides)
    if a.output_dir:
        overrides.append(f"train.output_dir={a.output_dir}")
    if a.max_steps is not None:
        overrides.append(f"train.max_steps={a.max_steps}")
    if a.mixed_precision:
        overrides.append(f"train.mixed_precision={a.mixed_precision}")
    cfg = load_config(a.config, overrides)
    from t2v.training import Trainer

    Trainer(cfg, resume=a.resume).fit()
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from t2v.errors import run_cli

    run_cli(main)
