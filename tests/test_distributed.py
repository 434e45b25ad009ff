"""Two CPU processes (gloo) through `accelerate launch --multi_gpu`: one checkpoint write each, gathered metrics."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None, reason="needs accelerate CLI")
def test_two_cpu_processes(tmp_path):
    out = tmp_path / "run"
    cmd = [
        str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()),
        str(ROOT / "train.py"), "--config", str(ROOT / "configs/toy.yaml"), "--output-dir", str(out),
        "--max-steps", "6", "train.checkpoint_every=3", "train.log_every=3", "model.num_points=512",
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    print(r.stdout[-2000:], r.stderr[-2000:])
    # on failure keep every rank's whole stderr (tqdm's redraws aside): a rank that dies at shutdown says why early on,
    # long before the last 2,000 characters
    assert r.returncode == 0, "\n".join(line for line in r.stderr.splitlines() if "it/s" not in line and "s/it" not in line)
    assert "2 process(es)" in r.stdout and "effective batch 128 (64 per process x 2 processes" in r.stdout
    assert r.stdout.count("t2v train:") == 1  # printed by the main process only
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["step_00000003", "step_00000006"]
    files = sorted(p.name for p in (out / "checkpoints/step_00000006").iterdir())
    assert files.count("model.safetensors") == 1 and {"random_states_0.pkl", "random_states_1.pkl"} <= set(files)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]  # one line per log step: written once, values gathered
    assert (out / "final/model.safetensors").is_file()
