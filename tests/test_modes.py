"""Smoke test of the 2-D mode-coverage benchmark and checks of its metrics on known samples."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from t2v.benchmarks.modes import OBJECTIVES, BenchConfig, grid, main, mode_metrics, ring, run_one
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
    cfg = BenchConfig(steps=2, batch=16, width=16, num_eval=100, unroll_steps=2)
    r = run_one(objective, "grid", 0, cfg)
    assert r["objective"] == objective and 0 <= r["modes"] <= 25 and 0 <= r["high_quality_pct"] <= 100
    assert math.isfinite(r["kl"]) and r["kl"] >= -1e-9


def test_cli_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    args = ["--objectives", "hinge", "mmd", "--datasets", "ring", "--steps", "3", "--seeds", "0", "1",
            "--batch", "16", "--num-eval", "100", "--out", str(out), "--markdown", str(md)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert len(data["runs"]) == 4 and {r["objective"] for r in data["summary"]} == {"hinge", "mmd"}
    table = md.read_text()
    assert "| hinge |" in table and "ring: modes (/8)" in table and "| hinge |" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="objectives: minimax"):
        main(["--objectives", "gan"])
