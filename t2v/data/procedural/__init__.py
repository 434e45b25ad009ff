"""Procedural datasets: Scene-Actions (text-to-video), Moving Shapes (one or two objects), digit domains.

`run_builder(name, argv)` runs a builder with CLI arguments in-process, e.g. from the trainer when a configured
dataset does not exist yet: `run_builder("scenes", ["--out", "data/scenes", "--num", "600"])`.
"""
from __future__ import annotations

import importlib
from typing import Any

from ...errors import ConfigError

BUILDERS = {"scenes": "scenes", "moving_shapes": "shapes", "digits": "digits"}  # builder name -> module


def run_builder(name: str, argv: list[str]) -> dict[str, Any]:
    """Parse `argv` with the builder's CLI parser, build, print the summary and return it."""
    if name not in BUILDERS:
        raise ConfigError(f"unknown dataset builder {name!r}; valid builders: {', '.join(BUILDERS)}")
    return importlib.import_module(f".{BUILDERS[name]}", __name__).main(argv)


def __getattr__(name: str) -> Any:
    lazy = {"build_scenes": "scenes", "build_moving_shapes": "shapes", "build_digits": "digits"}
    if name not in lazy:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{lazy[name]}", __name__), name)


__all__ = ["BUILDERS", "run_builder", "build_scenes", "build_moving_shapes", "build_digits"]
