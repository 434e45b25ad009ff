"""Data: video/image I/O, the built-dataset format, the training loader, procedural and real-data builders.

Names are resolved lazily so that `import t2v.data` does not pull in torch or PyAV.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VideoReadError": "video", "ImageReadError": "video", "read_video": "video", "read_image": "video",
    "write_video": "video", "write_gif": "video", "write_png": "video", "save_video": "video",
    "save_frame_strip": "video", "save_image_grid": "video",
    "DatasetWriter": "format", "BuiltDataset": "format",
    "CaptionedDataset": "loader", "collate": "loader", "make_loader": "loader", "normalize_pixels": "loader",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 't2v.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
