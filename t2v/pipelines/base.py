"""What every inference pipeline shares: bundled-model lookup, export metadata, prompt cleaning, uint8 output."""
from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config, build_config, save_config
from ..errors import CheckpointError, ConfigError, T2VError
from ..models.base import read_json

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED = {"scenes": "t2v_scenes", "shapes": "tfgan_shapes"}  # short checkpoint names -> package-data folders
DEFAULT_MODEL = "scenes"


def slugify(text: str, max_len: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:max_len].rstrip("_") or "sample"


def resolve_model_dir(name_or_dir: str | Path | None) -> Path:
    """None -> the bundled default; a short name ("scenes") -> its bundled folder; else a directory."""
    name = DEFAULT_MODEL if name_or_dir is None else str(name_or_dir)
    if name in BUNDLED:
        d = ASSETS / BUNDLED[name]
        if not (d / "config.json").is_file():
            raise CheckpointError(f"the bundled model {name!r} is missing from this install ({d}); reinstall t2v")
        return d
    d = Path(name)
    if not d.is_dir():
        known = ", ".join(sorted(BUNDLED))
        raise CheckpointError(f"checkpoint {name!r} is neither a directory nor a bundled model name ({known})")
    return d


def import_object(spec: str) -> Any:
    """"package.module:Name" -> the object."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float -> uint8."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def write_export_meta(d: Path, pipeline: str, config: Config, dtype: str, **extra: Any) -> None:
    """config.json of an exported pipeline: its class, the resolved training config and anything else it needs."""
    if dtype not in ("float32", "float16"):
        raise ConfigError(f"export dtype must be float32 or float16, got {dtype!r}")
    d.mkdir(parents=True, exist_ok=True)
    meta = {"pipeline": pipeline, **extra, "dtype": dtype, "config": config.to_dict()}
    (d / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    save_config(config, d / "train_config.json")


def read_export_meta(d: Path, pipeline: str) -> tuple[dict[str, Any], Config]:
    """The metadata and the validated training config of an export made by `pipeline`."""
    meta = read_json(d / "config.json")
    if meta.get("pipeline") != pipeline or "config" not in meta:
        raise CheckpointError(f"{d} holds a {meta.get('pipeline', 'non-pipeline')} export, not a {pipeline}")
    try:
        return meta, build_config(meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"{d / 'config.json'} is not a valid t2v config: {e}") from None


def latent_generator(seed: int, k: int) -> torch.Generator:
    """Random inputs of sample k under `seed`: the same whatever else shares the batch."""
    return torch.Generator().manual_seed(seed * 100_003 + k)


def check_truncation(truncation: float) -> float:
    """The factor the pipelines scale their N(0, I) latents by (StyleGAN's psi, a sampling temperature): 1 samples
    the distribution the model was trained on, values towards 0 trade diversity for typical samples, 0 gives every
    sample of a caption its mean latent."""
    t = float(truncation)
    if not math.isfinite(t) or t < 0:
        raise T2VError(f"truncation must be a finite number >= 0 (1 = no truncation), got {truncation}")
    return t


def rerank_kwargs(pipe: object, rerank: int, rerank_by: str = "text") -> dict[str, Any]:
    """The keyword arguments that ask `pipe` for the best of `rerank` samples by its discriminator (scored by
    `rerank_by`): {} for 1, an error for a pipeline that cannot rerank (only the text-to-image pipeline ships its
    discriminator)."""
    if rerank == 1:
        return {}
    import inspect

    if "rerank" not in inspect.signature(pipe.__call__).parameters:
        raise T2VError(f"rerank: {type(pipe).__name__} does not rerank its samples (text-to-image models do)")
    return {"rerank": rerank, "rerank_by": rerank_by}


class TextPrompts:
    """Prompt handling shared by the text-conditioned pipelines (needs `self.processor`)."""

    processor: Any

    def clean_prompt(self, prompt: str) -> tuple[str, list[str]]:
        """Drop words the tokenizer does not know; an empty prompt or one with no known word is an error."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise T2VError("empty text: give a caption such as --text \"play golf on snow\"")
        unknown = self.processor.unknown_words(prompt)
        if not unknown:
            return prompt, []
        from ..text import split_words

        kept = [w for w in split_words(prompt) if w not in set(unknown)]
        if not kept:
            raise T2VError(f"no known word in {prompt!r}; the model knows words such as {self._example_words()}")
        return " ".join(kept), unknown

    def clean_prompts(self, prompts: str | list[str]) -> tuple[list[str], list[str], dict[str, list[str]]]:
        """(prompts as given, cleaned prompts, unknown words per prompt); warns once per prompt with unknown words."""
        import warnings

        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise T2VError("no text given")
        cleaned, unknown = [], {}
        for p in prompts:
            text, unk = self.clean_prompt(p)
            cleaned.append(text)
            if unk:
                unknown[p] = unk
                warnings.warn(f"unknown words in {p!r} ignored: {', '.join(unk)}", stacklevel=3)
        return prompts, cleaned, unknown

    def _example_words(self) -> str:
        words = [w for w in getattr(self.processor, "itos", []) if w.isalpha()][:12]
        return ", ".join(words) if words else "those of its training captions"
