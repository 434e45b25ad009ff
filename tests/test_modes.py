"""Smoke test of the 2-D mode-coverage benchmark and checks of its metrics on known samples."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from t2v.benchmarks.modes import (
    OBJECTIVES, BenchConfig, describe_optimizer, grid, main, mode_metrics, optimizer_hint, ring, run_one, scatter_panels,
)
from t2v.errors import ConfigError

torch.set_num_threads(1)


def test_datasets_geometry() -> None:
    r, g = ring(), grid()
    assert r.centers.shape == (8, 2) and torch.allclose(r.centers.norm(dim=1), torch.full((8,), 2.0))
    assert g.centers.shape == (25, 2) and set(g.centers[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_metrics_on_true_and_collapsed_samples() -> None:
    torch.manual_seed(0)
    data = ring()
    true = mode_metrics(data.sample(2500), data, min_count=20)
    assert true["modes"] == 8 and true["high_quality_pct"] > 98.0 and true["kl"] < 0.01
    collapsed = mode_metrics(data.centers[3] + data.std * torch.randn(2500, 2), data, min_count=20)
    assert collapsed["modes"] == 1 and collapsed["kl"] == pytest.approx(math.log(8))
    spread = mode_metrics(torch.rand(2500, 2) * 8 - 4, data, min_count=20)  # uniform on the square: low quality
    assert spread["high_quality_pct"] < 2.0 and spread["modes"] == 0
    nan = mode_metrics(torch.full((10, 2), float("nan")), data, min_count=1)
    assert nan == {"modes": 0, "high_quality_pct": 0.0, "kl": pytest.approx(math.log(8))}


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_runs(objective: str) -> None:
    cfg = BenchConfig(steps=2, batch=16, z_dim=8, width=16, num_eval=100, unroll_steps=2)
    r, samples = run_one(objective, "grid", 0, cfg)
    assert r["objective"] == objective and 0 <= r["modes"] <= 25 and 0 <= r["high_quality_pct"] <= 100
    assert math.isfinite(r["kl"]) and r["kl"] >= -1e-9 and samples.shape == (100, 2)


def test_each_objective_trains_with_its_papers_optimizer() -> None:
    assert describe_optimizer(optimizer_hint("wgan")) == "RMSprop(5e-05)"
    assert describe_optimizer(optimizer_hint("wgan_gp")) == "Adam(0.0001, β=(0, 0.9))"
    assert describe_optimizer(optimizer_hint("unrolled")) == "Adam(0.0001, β=(0.5, 0.999))"
    assert describe_optimizer(optimizer_hint("hinge")) == "Adam(0.0002, β=(0.5, 0.999))"
    assert describe_optimizer(optimizer_hint("mmd"), lr=1e-3) == "Adam(0.001, β=(0.5, 0.999))"


def test_scatter_panels_marks_samples_and_modes() -> None:
    data = ring()
    image = scatter_panels([data.centers[:1].repeat(10, 1), torch.zeros(5, 2)], data, size=64, columns=4)
    assert image.shape == (68, 4 * 68, 3) and image.dtype.name == "uint8"
    first, second = image[:, :68], image[:, 68:136]
    assert (second[34, 34] == 0).all()  # a sample at the origin: a black pixel in the middle
    red = (first[..., 0] == 220) & (first[..., 1] == 30)
    assert red.sum() >= 8 * 5  # a cross at each of the 8 modes
    assert (image[:, 136:] == 160).all()  # padding tiles


def test_cli_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    args = ["--objectives", "hinge", "mmd", "--datasets", "ring", "--steps", "3", "--seeds", "0", "1",
            "--batch", "16", "--num-eval", "100", "--out", str(out), "--markdown", str(md), "--plots", str(tmp_path)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert len(data["runs"]) == 4 and {r["objective"] for r in data["summary"]} == {"hinge", "mmd"}
    table = md.read_text()
    assert "| hinge |" in table and "ring: modes (/8)" in table and "| hinge |" in capsys.readouterr().out
    assert "Adam(0.0002, β=(0.5, 0.999))" in table and (tmp_path / "modes.ring.png").is_file()
    with pytest.raises(ConfigError, match="objectives: minimax"):
        main(["--objectives", "gan"])
