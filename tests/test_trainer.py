"""The trainer on the toy recipe: a few steps, checkpoints, exact resume, NaN guard, CLI errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from t2v.config import build_config
from t2v.errors import T2VError
from t2v.training import Trainer
from t2v.training.trainer import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def toy_cfg(out: Path, steps: int, **train) -> object:
    t = {"output_dir": str(out), "max_steps": steps, "log_every": 2, "checkpoint_every": 4, "sample_every": 0,
         "ema_decay": 0.9, "keep_last": 2, **train}
    return build_config({"recipe": "toy", "data": {"batch_size": 32}, "model": {"num_points": 256}, "train": t})


def _state(ckpt: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(ckpt.glob("*.safetensors")):
        out.update({f"{f.name}:{k}": v for k, v in load_file(str(f)).items()})
    for f in sorted(ckpt.glob("optimizer*.bin")):
        st = torch.load(f, weights_only=True)["state"]
        out.update({f"{f.name}:{i}:{k}": v for i, s in st.items() for k, v in s.items()})
    return out


def test_trains_checkpoints_keep_last_and_exports(tmp_path):
    final = Trainer(toy_cfg(tmp_path, 12)).fit()
    ckpts = list_checkpoints(tmp_path)
    assert [c.name for c in ckpts] == ["step_00000008", "step_00000012"]  # keep_last=2
    assert json.loads((ckpts[-1] / "trainer_state.json").read_text())["step"] == 12
    assert not list((tmp_path / "checkpoints").glob(".tmp*"))
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4, 6, 8, 10, 12]
    assert all(torch.isfinite(torch.tensor(r["loss_d"])) for r in lines)
    assert (tmp_path / "config.json").is_file()
    from t2v.models.toy import ToyGenerator

    G = ToyGenerator.from_pretrained(final)
    assert G(torch.zeros(3, 2)).shape == (3, 2)


def test_keep_last_zero_keeps_every_checkpoint_and_negative_is_an_error(tmp_path):
    Trainer(toy_cfg(tmp_path / "all", 12, keep_last=0)).fit()
    assert [c.name for c in list_checkpoints(tmp_path / "all")] == ["step_00000004", "step_00000008", "step_00000012"]
    with pytest.raises(T2VError, match="keep_last"):
        Trainer(toy_cfg(tmp_path / "x", 2, keep_last=-1))


def test_resume_continues_identically(tmp_path):
    Trainer(toy_cfg(tmp_path / "a", 12)).fit()
    Trainer(toy_cfg(tmp_path / "b", 8)).fit()  # crosses an epoch boundary (8 batches per epoch)
    t = Trainer(toy_cfg(tmp_path / "b", 12), resume="latest")
    assert t.resume_from.name == "step_00000008"
    t.fit()
    a, b = _state(tmp_path / "a/checkpoints/step_00000012"), _state(tmp_path / "b/checkpoints/step_00000012")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_drops_metrics_logged_after_the_checkpoint(tmp_path):
    """A run stopped between checkpoints leaves metrics rows for steps it trains again on resume: no step twice."""
    Trainer(toy_cfg(tmp_path, 6, checkpoint_every=4, keep_last=3)).fit()  # checkpoints 4 and 6, logs 2, 4, 6
    Trainer(toy_cfg(tmp_path, 8), resume=str(tmp_path / "checkpoints/step_00000004")).fit()
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]


def test_resume_with_an_ema_the_checkpoint_lacks_starts_it_at_the_resumed_weights(tmp_path):
    """A run trained without an EMA can be resumed with `train.ema_decay`: the average starts at the checkpoint's
    generator (not at the freshly initialised one) and is saved from then on."""
    plain = Trainer(toy_cfg(tmp_path, 4, ema_decay=0.0)).fit()  # no EMA: the export is the live G at step 4
    a = load_file(str(plain / "model.safetensors"))  # read now: the resumed run exports to the same final/
    resumed = Trainer(toy_cfg(tmp_path, 4, ema_decay=0.9), resume="latest")
    with pytest.warns(UserWarning, match="step_00000004 has no EMA of G; train.ema_decay starts it"):
        final = resumed.fit()
    b = load_file(str(final / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.warns(UserWarning, match="has no EMA of G"):  # the step-4 checkpoint still has none
        Trainer(toy_cfg(tmp_path, 8, ema_decay=0.9), resume="latest").fit()
    assert (tmp_path / "checkpoints/step_00000008/ema_G.safetensors").is_file()


def test_resume_from_bad_path_is_clear(tmp_path):
    with pytest.raises(T2VError, match="not a complete t2v checkpoint"):
        Trainer(toy_cfg(tmp_path, 4), resume=str(tmp_path / "nope"))


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from t2v.training.recipes.toy import ToyRecipe

    orig = ToyRecipe.train_step

    def poisoned(self, batch, step):
        logs = orig(self, batch, step)
        return {**logs, "loss_d": torch.tensor(float("nan"))} if step >= 5 else logs

    monkeypatch.setattr(ToyRecipe, "train_step", poisoned)
    with pytest.raises(T2VError, match=r"non-finite loss at step 5 .*step_00000004"):
        Trainer(toy_cfg(tmp_path, 12)).fit()
    assert [c.name for c in list_checkpoints(tmp_path)] == ["step_00000004"]


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: toy\ntrain:\n  max_stepz: 3\n")
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "max_stepz" in r.stderr and "max_steps" in r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--config", str(tmp_path / "none.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_grad_accumulation_and_bf16_autocast(tmp_path):
    t = Trainer(toy_cfg(tmp_path / "acc", 4, grad_accum=2, checkpoint_every=0))
    assert "effective batch 64 (32 per process x 1 processes x 2 accumulation)" in t.describe()
    t.fit()
    opt = torch.load(tmp_path / "acc/checkpoints/step_00000004/optimizer.bin", weights_only=True)
    assert int(opt["state"][0]["step"]) == 4  # one optimiser update per 2 micro-batches
    t = Trainer(toy_cfg(tmp_path / "bf16", 2, mixed_precision="bf16", checkpoint_every=0))
    assert "mixed precision bf16" in t.describe()
    t.fit()
    with pytest.raises(T2VError, match="mixed_precision"):
        Trainer(toy_cfg(tmp_path / "x", 2, mixed_precision="fp8"))


def test_max_minutes_stops_early_checkpoints_and_exports(tmp_path, monkeypatch):
    import t2v.training.trainer as trainer_mod

    clock = iter(range(0, 10_000, 30))  # every perf_counter() call is 30 s later than the one before
    monkeypatch.setattr(trainer_mod.time, "perf_counter", lambda: float(next(clock)))
    final = Trainer(toy_cfg(tmp_path, 1000, max_minutes=2.0, checkpoint_every=0)).fit()
    step = json.loads((list_checkpoints(tmp_path)[-1] / "trainer_state.json").read_text())["step"]
    assert 1 < step < 10  # stopped by the clock (2 min), far short of max_steps
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == step  # the last step is logged like a max_steps one
    from t2v.models.toy import ToyGenerator

    assert ToyGenerator.from_pretrained(final)(torch.zeros(3, 2)).shape == (3, 2)
    t = Trainer(toy_cfg(tmp_path, 1000), resume="latest")  # and resumes from there
    assert t.resume_from is not None
    with pytest.raises(T2VError, match="max_minutes"):
        Trainer(toy_cfg(tmp_path / "x", 2, max_minutes=-1))


def test_a_failing_preview_warns_and_training_goes_on(tmp_path, monkeypatch, capsys):
    from t2v.training.recipes.toy import ToyRecipe

    def broken(self, nets, step, out_dir):
        raise ModuleNotFoundError("No module named 'av'")

    monkeypatch.setattr(ToyRecipe, "preview", broken)
    final = Trainer(toy_cfg(tmp_path, 8, sample_every=4)).fit()
    assert final is not None and final.is_dir()
    assert json.loads((list_checkpoints(tmp_path)[-1] / "trainer_state.json").read_text())["step"] == 8
    err = capsys.readouterr().err
    assert "warning: preview at step 4 failed (ModuleNotFoundError: No module named 'av'); training goes on" in err
    assert "preview at step 8 failed" in err


def test_missing_pyav_is_one_clear_error(tmp_path, monkeypatch):
    import builtins

    import numpy as np

    from t2v.data.video import write_video

    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("No module named 'av'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    with pytest.raises(T2VError, match="needs PyAV: pip install av"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.uint8))
    assert not (tmp_path / "x.mp4").exists()
