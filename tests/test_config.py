from __future__ import annotations

import json

import pytest

from t2v.config import Config, TextConfig, build_config, load_config, parse_overrides
from t2v.errors import ConfigError
from t2v.models.t2v import T2VModelConfig


def test_defaults_and_yaml_diff(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("recipe: t2v\ntrain:\n  max_steps: 7\nmodel:\n  loss: wgan_gp\n")
    cfg = load_config(p)
    assert isinstance(cfg, Config) and isinstance(cfg.model, T2VModelConfig)
    assert cfg.train.max_steps == 7 and cfg.model.loss == "wgan_gp"
    assert cfg.train.log_every == 10 and cfg.text == TextConfig()  # untouched keys keep their defaults


def test_overrides_parse_yaml_scalars(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("recipe: toy\n")
    cfg = load_config(p, ["train.max_steps=3", "model.lr=0.5", "train.sample_prompts=[a, b]", "data.builder="])
    assert cfg.train.max_steps == 3 and cfg.model.lr == 0.5
    assert cfg.train.sample_prompts == ["a", "b"] and cfg.data.builder == ""
    assert parse_overrides(["a.b.c=1"]) == {"a": {"b": {"c": 1}}}
    # YAML 1.1 reads 5e-5 (no dot) as a string; float fields take it as the number it spells
    t2v = load_config(p, ["recipe=t2v", "model.lr_g=5e-5", "model.kl_weight=1E-2"])
    assert t2v.model.lr_g == 5e-5 and t2v.model.kl_weight == 0.01


def test_only_true_and_false_are_booleans(tmp_path):
    """YAML 1.1 reads no / yes / on / off as booleans: `--mixed-precision no` (train.py appends
    train.mixed_precision=no) used to fail with "False is not a str". Overrides and files read them as words."""
    p = tmp_path / "c.yaml"
    p.write_text("recipe: t2v\ntrain:\n  mixed_precision: no\nmodel:\n  two_stream: False\n")
    cfg = load_config(p)
    assert cfg.train.mixed_precision == "no" and cfg.model.two_stream is False
    cfg = load_config(p, ["train.mixed_precision=bf16", "model.two_stream=true", "data.builder=off"])
    assert cfg.train.mixed_precision == "bf16" and cfg.model.two_stream is True and cfg.data.builder == "off"
    assert load_config(p, ["train.mixed_precision=no"]).train.mixed_precision == "no"
    with pytest.raises(ConfigError, match="model.two_stream: 'yes' is not a bool"):
        load_config(p, ["model.two_stream=yes"])


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError) as e:
        build_config({"train": {"max_stepz": 3}})
    msg = str(e.value)
    assert "train.max_stepz" in msg and "max_steps" in msg and "log_every" in msg
    with pytest.raises(ConfigError, match="valid keys: .*frames"):
        build_config({"model": {"framez": 3}})
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        build_config({"recipe": "nope"})


@pytest.mark.parametrize(
    "data, key, value, typ",
    [
        ({"train": {"max_steps": "ten"}}, "train.max_steps", "'ten'", "int"),
        ({"train": {"max_steps": 1.5}}, "train.max_steps", "1.5", "int"),
        ({"data": {"mismatched": "yes"}}, "data.mismatched", "'yes'", "bool"),
        ({"model": {"lr_g": "fast"}}, "model.lr_g", "'fast'", "float"),
        ({"train": {"sample_prompts": "a"}}, "train.sample_prompts", "'a'", "list"),
    ],
)
def test_wrong_type_names_key_value_and_type(data, key, value, typ):
    with pytest.raises(ConfigError) as e:
        build_config(data)
    msg = str(e.value)
    assert key in msg and value in msg and typ in msg


def test_int_accepted_for_float_and_roundtrip_json(tmp_path):
    cfg = build_config({"model": {"lr_g": 1}})
    assert cfg.model.lr_g == 1.0 and isinstance(cfg.model.lr_g, float)
    again = build_config(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["novalue"])


def test_committed_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    for p in root.glob("*.yaml"):
        load_config(p)
