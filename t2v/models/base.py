"""Weights on disk: config.json + model.safetensors, never pickles."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError


def check_lr_decay_start(value: float) -> None:
    """model.lr_decay_start of a recipe with a linear learning-rate decay (t2v.training.recipe.linear_decay)."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"model.lr_decay_start is a fraction of train.max_steps in [0, 1], got {value}")


def check_aux_labels(labels: list[str], weight: float, mode: str = "ac", adc_start: int = 0) -> None:
    """model.aux_labels / aux_weight / aux_mode / aux_adc_start of a recipe with AC-GAN heads on its discriminator."""
    if len(set(labels)) != len(labels) or weight < 0:
        raise ConfigError(f"model.aux_labels must name distinct labels and model.aux_weight be >= 0, got "
                          f"{labels} / {weight}")
    if mode not in ("ac", "adc"):
        raise ConfigError(f"model.aux_mode must be ac (AC-GAN: heads learn from real items) or adc (ADC-GAN: also "
                          f"from generated ones, 2K classes), got {mode!r}")
    if mode == "adc" and not labels:
        raise ConfigError("model.aux_mode adc trains the label heads of model.aux_labels, which names none")
    if adc_start < 0:
        raise ConfigError(f"model.aux_adc_start is a step (>= 0), got {adc_start}")


def save_weights(module: nn.Module, path: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write `module`'s state dict as safetensors (optionally casting floating tensors, e.g. to fp16)."""
    from safetensors.torch import save_file

    state = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(path)
    return path


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Load safetensors into `module`; a missing, truncated or mismatched file is a CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {str(path)!r} not found; is this an exported t2v model directory?")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is truncated or not a safetensors file ({str(e).splitlines()[0]})") from None
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or bad:
        what = (
            f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra else
            f"shape of {bad[0]} is {tuple(state[bad[0]].shape)}, model expects {tuple(own[bad[0]].shape)}"
        )
        raise CheckpointError(f"{path} does not match the model described by its config.json ({what})")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return module


def read_json(path: str | Path, what: str = "config") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} file {str(path)!r} not found; is this an exported t2v model directory?")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{path} is corrupt (not valid JSON)") from None


class ModelMixin:
    """`save_pretrained(dir)` / `from_pretrained(dir)` for modules built as `Cls(config_dataclass)`."""

    config_class: type

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")
        save_weights(self, d / "model.safetensors", dtype)  # type: ignore[arg-type]
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path):
        from ..config import from_dict
        from ..errors import ConfigError

        d = Path(directory)
        try:
            cfg = from_dict(cls.config_class, read_json(d / "config.json"))
        except ConfigError as e:
            raise CheckpointError(f"{d / 'config.json'} does not describe a {cls.__name__}: {e}") from None
        model = cls(cfg)
        load_weights(model, d / "model.safetensors")
        return model.eval()
