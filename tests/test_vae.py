"""The VAE family: ELBO terms against their definitions, M2's exact marginalisation over y for unlabeled data,
shapes and gradients, save/load, and a tiny train + export + load through the Trainer for every kind."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import t2v.models.vae as vae_module
from t2v.config import load_config
from t2v.errors import CheckpointError, ConfigError, DatasetError
from t2v.losses.vae import bernoulli_nll, categorical_entropy, kl_normal_std, marginal_neg_elbo
from t2v.models.vae import VAE, ImageClassifier, VAEModelConfig, build_model, load_model
from t2v.training.recipes.vae import labeled_positions, model_input

ROOT = Path(__file__).resolve().parents[1]
KINDS = ["vae", "cvae", "m2", "classifier"]


def _cfg(kind: str = "vae", arch: str = "conv", **kw) -> VAEModelConfig:
    base = dict(kind=kind, arch=arch, size=16, latent_dim=3, hidden=24, conv_channels=4, num_classes=3)
    return VAEModelConfig(**(base | kw))


def _images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory) -> Path:
    """A 16x16 labeled dataset with 3 classes (a bar at one of three heights) in two domains, train and test."""
    from t2v.data.format import DatasetWriter

    out = tmp_path_factory.mktemp("data") / "tiny_digits"
    rng = np.random.default_rng(0)
    w = DatasetWriter(out, "labeled", (16, 16, 3), labels={"digit": ["0", "1", "2"]})
    for i in range(72):
        c = i % 3
        img = np.zeros((16, 16, 3), np.uint8)
        row = 3 + 5 * c + int(rng.integers(0, 2))
        img[row : row + 2, 2:14] = 255 if i % 2 else 180
        w.add(img, [f"the digit {c}"], {"digit": str(c)}, split="test" if (i // 6) % 4 == 3 else "train",
              domain="source" if (i // 3) % 2 else "target")
    w.close(num_previews=0)
    return out


# ---------------------------------------------------------------- loss terms


def test_categorical_entropy() -> None:
    assert categorical_entropy(torch.zeros(2, 5)).tolist() == pytest.approx([math.log(5)] * 2)
    assert categorical_entropy(torch.tensor([[30.0, -30.0, -30.0]])).item() == pytest.approx(0.0, abs=1e-9)
    logits = torch.randn(4, 6)
    q = logits.softmax(-1)
    assert torch.allclose(categorical_entropy(logits), -(q * q.log()).sum(-1), atol=1e-6)


def test_marginal_bound_definition_and_optimum() -> None:
    """-U = Σ_y q(y|x)(-L(x,y)) - H(q); over q it is minimised by q ∝ exp(L), where it equals -log Σ_y exp L(x,y)."""
    torch.manual_seed(0)
    neg_l = 100 + 5 * torch.randn(3, 4)
    logits = torch.randn(3, 4)
    q = logits.softmax(-1)
    assert torch.allclose(marginal_neg_elbo(neg_l, logits), (q * neg_l).sum(-1) + (q * q.log()).sum(-1), atol=1e-4)
    best = marginal_neg_elbo(neg_l, -neg_l)
    assert torch.allclose(best, -torch.logsumexp(-neg_l, -1), atol=1e-4)
    for _ in range(20):
        assert (marginal_neg_elbo(neg_l, torch.randn(3, 4) * 3) >= best - 1e-4).all()


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("arch", ["conv", "mlp"])
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_gradients(kind: str, arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(_cfg(kind, arch))
    x, y = _images(6), torch.tensor([0, 1, 2, -1, -1, -1])
    if kind == "classifier":
        assert isinstance(model, ImageClassifier)
        logits = model(x)
        assert logits.shape == (6, 3)
        logits.sum().backward()
    else:
        out = model(x, None if kind == "vae" else (y if kind == "m2" else y.clamp_min(0)))
        assert out["neg_elbo"].shape == (6,) and torch.isfinite(out["neg_elbo"]).all()
        out["neg_elbo"].mean().backward()
        cond = torch.arange(3) if kind != "vae" else None
        samples = model.sample(3, cond)
        assert samples.shape == (3, 1, 16, 16) and 0 <= samples.min() and samples.max() <= 1
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_neg_elbo_is_nll_of_the_reparameterised_sample_plus_kl() -> None:
    torch.manual_seed(0)
    model, x, y = VAE(_cfg("cvae")), _images(5), torch.tensor([0, 1, 2, 0, 1])
    torch.manual_seed(1)
    rec, kl = model.neg_elbo(x, y)
    torch.manual_seed(1)
    mu, logvar = model.encode(x, y)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    expected_rec = F.binary_cross_entropy_with_logits(model.decode(z, y), x, reduction="none").sum((1, 2, 3))
    expected_kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    assert torch.allclose(rec, expected_rec, atol=1e-4) and torch.allclose(kl, expected_kl, atol=1e-5)
    assert torch.allclose(kl, kl_normal_std(mu, logvar, reduction="none"))
    # the class matters: the same x under another class has another bound
    torch.manual_seed(1)
    assert not torch.allclose(sum(model.neg_elbo(x, (y + 1) % 3)), rec + kl)


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_m2_unlabeled_bound_marginalises_every_class(arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With z = μ (no sampling noise), -U(x) equals Σ_y q(y|x)·(-L(x, y)) - H(q) built from K labeled bounds."""
    monkeypatch.setattr(vae_module, "reparameterize", lambda mu, logvar: mu)
    torch.manual_seed(0)
    model, x = VAE(_cfg("m2", arch)), _images(4)
    per_class = torch.stack([model.labeled_neg_elbo(x, torch.full((4,), k)) for k in range(3)], 1)
    mu, logvar = model.encode(x, torch.zeros(4, dtype=torch.long))
    rec0 = bernoulli_nll(model.decode(mu, torch.zeros(4, dtype=torch.long)), x, reduction="none")
    assert torch.allclose(per_class[:, 0], rec0 + kl_normal_std(mu, logvar, reduction="none") + math.log(3), atol=1e-4)
    q = model.classify(x).softmax(-1)
    expected = (q * per_class).sum(1) + (q * q.log()).sum(1)
    assert torch.allclose(model.unlabeled_neg_elbo(x), expected, atol=1e-3)
    out = model(x, torch.tensor([2, -1, 0, -1]))
    assert torch.allclose(out["neg_elbo"][[1, 3]], expected[[1, 3]], atol=1e-3)
    assert torch.allclose(out["neg_elbo"][[0, 2]], per_class[[0, 2], [2, 0]], atol=1e-4)


def test_m2_unlabeled_term_trains_the_classifier() -> None:
    """Without any label, -U(x) still sends gradient into q(y|x): the classifier learns from unlabeled data."""
    torch.manual_seed(0)
    model = VAE(_cfg("m2"))
    model(_images(4), torch.full((4,), -1))["neg_elbo"].mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.classifier.parameters())
    model.zero_grad()
    model(_images(4), torch.tensor([0, 1, 2, 0]))["neg_elbo"].mean().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.classifier.parameters())


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="model.kind must be one of vae, cvae, m2, classifier"):
        build_model(_cfg("gan"))
    with pytest.raises(ConfigError, match="model.arch"):
        build_model(_cfg(arch="resnet"))
    with pytest.raises(ConfigError, match="power of two"):
        build_model(_cfg(size=24))
    with pytest.raises(ConfigError, match="ImageClassifier"):
        VAE(_cfg("classifier"))
    with pytest.raises(ValueError, match="needs the class"):
        VAE(_cfg("cvae")).encode(_images(2))


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    for kind in KINDS:
        model = build_model(_cfg(kind)).eval()
        model.save_pretrained(tmp_path / kind)
        loaded = load_model(tmp_path / kind)
        assert type(loaded) is type(model)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
            assert torch.equal(a, b)
    with pytest.raises(CheckpointError, match="not an exported VAE-family model"):
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "config.json").write_text('{"kind": "dcgan"}')
        load_model(tmp_path / "bad")


def test_labeled_positions() -> None:
    labels = np.array([0, 1, 2] * 10 + [0] * 5)
    pos = labeled_positions(labels, 4, 3, seed=0)
    assert np.bincount(labels[pos]).tolist() == [4, 4, 4] and len(set(pos.tolist())) == 12
    assert np.array_equal(pos, labeled_positions(labels, 4, 3, seed=0))
    assert not np.array_equal(pos, labeled_positions(labels, 4, 3, seed=1))
    with pytest.raises(DatasetError, match="class 1 has 10 examples"):
        labeled_positions(labels, 11, 3, seed=0)
    assert model_input(torch.tensor([[[[-1.0]], [[0.0]], [[1.0]]]]), 1).tolist() == [[[[0.0]]]]


# ---------------------------------------------------------------- through the Trainer


def _train(kind: str, data: Path, out: Path, extra: list[str] | None = None):
    from t2v.training import Trainer

    overrides = [
        f"data.path={data}", "data.builder=", "data.batch_size=8", f"train.output_dir={out}", "train.max_steps=3",
        "train.log_every=1", "train.checkpoint_every=0", "train.sample_every=3", f"model.kind={kind}",
        "model.size=16", "model.num_classes=3", "model.latent_dim=2", "model.hidden=16", "model.conv_channels=4",
        "model.labels_per_class=3", "model.labeled_batch=4", *(extra or []),
    ]
    config = "m2_digits" if kind in ("m2", "classifier") else f"{kind}_digits"
    return Trainer(load_config(ROOT / "configs" / f"{config}.yaml", overrides)).fit()


@pytest.mark.parametrize("kind", KINDS)
def test_train_export_load(kind: str, tiny_digits: Path, tmp_path: Path) -> None:
    final = _train(kind, tiny_digits, tmp_path / kind, ["train.export_dtype=float16"])
    model = load_model(final)
    assert model.config.kind == kind and next(model.parameters()).dtype == torch.float32
    x = _images(4)
    if kind == "classifier":
        assert model(x).shape == (4, 3)
        assert not (tmp_path / kind / "samples").exists()
    else:
        assert (tmp_path / kind / "samples" / "step_00000003.png").is_file()
        y = None if kind == "vae" else torch.tensor([0, 1, 2, 0])
        assert torch.isfinite(model(x, y)["neg_elbo"]).all()
    metrics = [line for line in (tmp_path / kind / "metrics.jsonl").read_text().splitlines() if line]
    assert len(metrics) == 3


def test_recipe_errors(tiny_digits: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has 3 values, model.num_classes is 10"):
        _train("cvae", tiny_digits, tmp_path / "a", ["model.num_classes=10"])
    with pytest.raises(ConfigError, match="model.label 'style' is not a label"):
        _train("m2", tiny_digits, tmp_path / "b", ["model.label=style"])
    with pytest.raises(ConfigError, match="model expects 32x32 images"):
        _train("vae", tiny_digits, tmp_path / "c", ["model.size=32"])
    with pytest.raises(ConfigError, match="data.batch_size=8 is more than the 6 labeled"):
        _train("classifier", tiny_digits, tmp_path / "e", ["model.labels_per_class=2"])
    with pytest.raises(DatasetError, match="fewer than labels_per_class=50"):
        _train("m2", tiny_digits, tmp_path / "d", ["model.labels_per_class=50"])


def test_benchmark_cli(tiny_digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The digits benchmark trains every model once, evaluates, writes its tables and grids, and reuses exports."""
    import json

    from t2v.benchmarks.vae import main

    args = ["--runs", str(tmp_path / "runs"), "--labels", "3", "--seeds", "0", "1", "--out", str(tmp_path / "r.json"),
            "--markdown", str(tmp_path / "r.md"), "--samples", str(tmp_path), f"data.path={tiny_digits}",
            "data.builder=", "data.batch_size=8", "train.max_steps=2", "model.size=16", "model.num_classes=3",
            "model.latent_dim=2", "model.hidden=16", "model.conv_channels=4", "model.labeled_batch=4"]
    assert main(args) == 0
    record = json.loads((tmp_path / "r.json").read_text())
    assert [(r["model"], r["domain"]) for r in record["elbo"]] == [
        ("VAE", "printed"), ("VAE", "handwritten"), ("CVAE", "printed"), ("CVAE", "handwritten")]
    assert all(r["neg_elbo"] == pytest.approx(r["rec"] + r["kl"]) and r["images"] == 9 for r in record["elbo"])
    (row,) = record["semi_supervised"]
    assert row["labels_per_class"] == 3 and len(row["m2"]) == len(row["classifier"]) == 2
    assert all(0 <= a <= 100 for a in row["m2"] + row["classifier"])
    assert "| 3 |" in (tmp_path / "r.md").read_text()
    assert all((tmp_path / f"vae.samples_{n}.png").is_file() for n in ("vae", "cvae", "m2"))
    assert "training m2_l3_s1" in capsys.readouterr().out
    assert main(args) == 0
    assert "training" not in capsys.readouterr().out  # every export is reused
