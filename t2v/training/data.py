"""Make sure the dataset a config names exists, building a procedural one on the main process if not."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ..config import DataConfig
from ..errors import DatasetError

BUILDER_SCRIPTS = Path(__file__).resolve().parents[2] / "datasets"


def ensure_dataset(data: DataConfig, accelerator: Any) -> Path:
    path = Path(data.path)
    if (path / "meta.json").is_file():
        return path
    if not data.builder:
        raise DatasetError(f"dataset {str(path)!r} not found and data.builder is empty; build it first (see datasets/)")
    script = BUILDER_SCRIPTS / f"{data.builder}.py"
    if not script.is_file():
        raise DatasetError(f"dataset {str(path)!r} not found and there is no builder datasets/{data.builder}.py")
    if accelerator.is_main_process:
        cmd = [sys.executable, str(script), "--out", str(path), *data.builder_args]
        print(f"building dataset: {' '.join(cmd)}", flush=True)
        if subprocess.run(cmd).returncode != 0:
            raise DatasetError(f"building {path} with {script.name} failed (see the lines above)")
    accelerator.wait_for_everyone()
    return path
