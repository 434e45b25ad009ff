"""Make sure the dataset a config names exists, building a procedural one on the main process if not."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import DataConfig
from ..errors import DatasetError


def ensure_dataset(data: DataConfig, accelerator: Any) -> Path:
    path = Path(data.path)
    if (path / "meta.json").is_file():
        return path
    if not data.builder:
        raise DatasetError(f"dataset {str(path)!r} not found and data.builder is empty; build it first (see datasets/)")
    if accelerator.is_main_process:
        from ..data.procedural import run_builder

        print(f"dataset {path} not found: building it with the {data.builder!r} builder", flush=True)
        run_builder(data.builder, ["--out", str(path), *data.builder_args])
    accelerator.wait_for_everyone()
    return path
