"""Inference pipelines: from_pretrained(dir)(prompts) -> frames; `load_pipeline` picks the class from config.json."""
from __future__ import annotations

from pathlib import Path

PIPELINES = {"TextToVideoPipeline": "t2v.pipelines.t2v", "TextToImagePipeline": "t2v.pipelines.image"}
PIPELINES["ImageTranslationPipeline"] = "t2v.pipelines.translate"


def load_pipeline(directory: str | Path | None = None, device: str = "cpu"):
    """Load any exported t2v pipeline (or a bundled one by short name; None = the default text-to-video model)."""
    import importlib

    from ..errors import CheckpointError
    from ..models.base import read_json
    from .base import resolve_model_dir

    d = resolve_model_dir(directory)
    name = read_json(d / "config.json").get("pipeline")
    if name not in PIPELINES:
        raise CheckpointError(f"{d} is not an exported t2v pipeline (pipeline={name!r}; known: {', '.join(PIPELINES)})")
    return getattr(importlib.import_module(PIPELINES[name]), name).from_pretrained(d, device=device)
