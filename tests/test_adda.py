"""ADDA: LeNet shapes, the two phases (copy at the switch, source side frozen), no use of target labels,
export + the evaluation command."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from t2v.config import build_config
from t2v.data.format import DatasetWriter
from t2v.errors import ConfigError, T2VError
from t2v.models.adda import ADDAClassifier, ADDAModelConfig, DomainDiscriminator, LeNetEncoder

TINY = {"conv_channels": [4, 6], "feature_dim": 16, "disc_hidden": [16, 16], "num_classes": 2, "size": 16,
        "pretrain_steps": 3}


def make_labeled(out: Path, target_labels: list[int] | None = None, n: int = 12, size: int = 16) -> Path:
    """Source: a bright bar on the left (0) or right (1); target: the same, dimmer and lower. Labels `digit`."""
    rng = np.random.default_rng(0)
    w = DatasetWriter(out, "labeled", (size, size, 3), labels={"digit": ["0", "1"]})
    for domain, ink, top in (("source", 250, 2), ("target", 120, 6)):
        for k in range(n):
            img = rng.integers(0, 30, (size, size, 3), dtype=np.uint8)
            x = 2 if k % 2 == 0 else size - 6
            img[top : top + 8, x : x + 4] = ink
            label = k % 2 if domain == "source" or target_labels is None else target_labels[k]
            w.add(img, [], {"digit": str(label)}, split="test" if k >= n - 4 else "train", domain=domain)
    w.close(num_previews=0)
    return out


def adda_cfg(data: Path, out: Path, steps: int, **model) -> object:
    return build_config({
        "recipe": "adda", "data": {"path": str(data), "builder": "", "batch_size": 4, "mismatched": False},
        "model": {**TINY, **model},
        "train": {"output_dir": str(out), "max_steps": steps, "checkpoint_every": 3, "sample_every": 3, "log_every": 1},
    })


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> Path:
    return make_labeled(tmp_path_factory.mktemp("data") / "labeled")


def test_lenet_shapes_gray_input_and_size_errors():
    cfg = ADDAModelConfig()
    enc = LeNetEncoder(cfg)
    assert enc(torch.randn(5, 3, 32, 32)).shape == (5, 500)
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(enc(x.expand(2, 3, 32, 32)), enc(x))  # RGB digits: gray = mean of equal channels
    assert LeNetEncoder(ADDAModelConfig(size=28))(torch.randn(1, 1, 28, 28)).shape == (1, 500)
    assert DomainDiscriminator(cfg)(torch.randn(7, 500)).shape == (7,)
    assert DomainDiscriminator(ADDAModelConfig(adapt="logits"))(torch.randn(7, 10)).shape == (7,)
    with pytest.raises(ConfigError, match="model.adapt"):
        ADDAModelConfig(adapt="pixels").check()
    model = ADDAClassifier(cfg)
    assert model(torch.randn(2, 3, 32, 32), "source").shape == (2, 10)
    with pytest.raises(ConfigError, match="model.size 30"):
        ADDAClassifier(ADDAModelConfig(size=30))
    with pytest.raises(ValueError, match="encoder must be"):
        model(torch.randn(1, 3, 32, 32), "both")


def _state(run: Path, step: int) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    ckpt = run / f"checkpoints/step_{step:08d}"
    names = ["source_encoder", "classifier", "target_encoder", "D"]  # trainer order: model.safetensors, model_1, ...
    files = ["model.safetensors"] + [f"model_{i}.safetensors" for i in range(1, 4)]
    return {n: load_file(str(ckpt / f)) for n, f in zip(names, files)}


@pytest.mark.parametrize("adapt", ["features", "logits"])
def test_two_phases_copy_then_freeze_source(labeled, tmp_path, adapt):
    from t2v.training import Trainer

    final = Trainer(adda_cfg(labeled, tmp_path, 4, adapt=adapt)).fit()
    pre, post = _state(tmp_path, 3), _state(tmp_path, 4)
    for name in ("source_encoder", "classifier"):  # fixed during adaptation
        assert all(torch.equal(pre[name][k], post[name][k]) for k in pre[name])
    # step 3 copied the source encoder into the target encoder, then one Adam step (lr 2e-4) moved it
    src, tgt_before, tgt = post["source_encoder"], pre["target_encoder"], post["target_encoder"]
    assert any(not torch.equal(tgt_before[k], src[k]) for k in src)  # before the switch: its own random init
    gaps = [(tgt[k] - src[k]).abs().max().item() for k in src]
    assert 0 < max(gaps) <= 2e-4 * 1.01
    d_in = TINY["num_classes"] if adapt == "logits" else TINY["feature_dim"]  # what D compares
    assert post["D"]["net.0.weight"].shape == (TINY["disc_hidden"][0], d_in)
    logs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "loss_cls" in logs[2] and "loss_target" in logs[3] and "d_accuracy" in logs[3]
    preview = json.loads((tmp_path / "samples/step_00000003.json").read_text())
    assert preview["split"] == "test" and 0 <= preview["target_source_only"] <= 1
    model = ADDAClassifier.from_pretrained(final)
    torch.testing.assert_close(model.target_encoder.state_dict()["net.0.weight"], tgt["net.0.weight"])


def test_target_labels_are_never_used(tmp_path):
    """Permuting the target domain's labels leaves training bit-identical."""
    from safetensors.torch import load_file

    from t2v.training import Trainer

    finals = []
    for name, labels in (("a", None), ("b", [1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0])):
        data = make_labeled(tmp_path / f"data_{name}", labels)
        finals.append(Trainer(adda_cfg(data, tmp_path / name, 5, pretrain_steps=2)).fit())
    a, b = (load_file(str(f / "model.safetensors")) for f in finals)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_config_checked_against_dataset(labeled, tmp_path):
    from t2v.training import Trainer

    with pytest.raises(ConfigError, match="has 2 'digit' classes; set model.num_classes: 2"):
        Trainer(adda_cfg(labeled, tmp_path, 2, num_classes=10))
    with pytest.raises(ConfigError, match="holds 16x16 images; set model.size: 16"):
        Trainer(adda_cfg(labeled, tmp_path, 2, size=32))


def test_evaluation_command(labeled, tmp_path, capsys):
    from t2v.evaluation.adda import main
    from t2v.training import Trainer

    final = Trainer(adda_cfg(labeled, tmp_path / "run", 4)).fit()
    capsys.readouterr()
    main(["--model", str(final), "--model", str(final), "--dataset", str(labeled), "--out", str(tmp_path / "r.json")])
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((tmp_path / "r.json").read_text())
    assert result["source"] == "domain=source" and result["target"] == "domain=target" and len(result["runs"]) == 2
    run = result["runs"][0]
    assert all(0 <= run[k] <= 1 and (run[k] * 4).is_integer() for k in ("source_only", "adda", "source_domain"))
    assert result["summary"]["adda"] == {"mean": run["adda"], "std": 0.0}
    assert result["summary"]["gain"]["mean"] == pytest.approx(run["adda"] - run["source_only"], abs=1e-4)
    with pytest.raises(T2VError, match="--out .*: not a writable file path"):  # refused before any model is scored
        main(["--model", str(tmp_path / "no-model"), "--dataset", str(labeled), "--out", str(tmp_path)])
