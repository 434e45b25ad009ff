"""t2v: text-conditioned video and image generation in PyTorch.

`import t2v` is cheap: heavy submodules (and torch, transformers, av) load on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "TextToVideoPipeline": "t2v.pipelines.t2v",
    "load_pipeline": "t2v.pipelines",
    "load_config": "t2v.config",
    "Trainer": "t2v.training",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 't2v' has no attribute {name!r}")
