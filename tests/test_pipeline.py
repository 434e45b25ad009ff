"""Tiny T2V end to end on CPU: train a few steps, resume, export, from_pretrained, sample.py contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from t2v.config import build_config
from t2v.errors import CheckpointError, T2VError
from t2v.pipelines import load_pipeline
from t2v.pipelines.t2v import TextToVideoPipeline

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = {"frames": 8, "size": 16, "z_dim": 8, "noise_dim": 4, "gist_channels": 8, "gen_channels": 8,
              "filter_channels": 4, "disc_channels": 8}


@pytest.fixture(scope="module")
def exported(tiny_video_dataset, tmp_path_factory) -> Path:
    from t2v.training import Trainer

    out = tmp_path_factory.mktemp("run")
    cfg = build_config({
        "recipe": "t2v",
        "data": {"path": str(tiny_video_dataset), "builder": "", "batch_size": 4},
        "model": TINY_MODEL,
        "text": {"dim": 16, "embed_dim": 16},
        "train": {"output_dir": str(out), "max_steps": 3, "checkpoint_every": 2, "sample_every": 2, "log_every": 1,
                  "ema_decay": 0.9, "sample_prompts": ["a red ball moving left on snow"]},
    })
    Trainer(cfg).fit()
    cfg.train.max_steps = 4
    t = Trainer(cfg, resume="latest")
    assert t.step == 0 and t.resume_from.name == "step_00000003"
    t.fit()
    assert json.loads((out / "checkpoints/step_00000004/trainer_state.json").read_text())["step"] == 4
    assert (out / "samples/step_00000002.png").is_file() and (out / "samples/step_00000002_0.mp4").is_file()
    return out / "final"


def test_from_pretrained_frames_and_determinism(exported):
    pipe = TextToVideoPipeline.from_pretrained(exported)
    out = pipe(["a red ball moving left on snow", "green ball on grass"], num_samples=2, seed=0)
    assert out.frames.shape == (4, 8, 16, 16, 3) and out.frames.dtype == np.uint8
    assert out.gists.shape == (4, 16, 16, 3)
    again = pipe(["a red ball moving left on snow"], num_samples=2, seed=0)
    assert np.array_equal(again.frames, out.frames[:2])  # same seed -> same clips, whatever else is batched
    other = pipe(["a red ball moving left on snow"], num_samples=2, seed=1)
    assert not np.array_equal(other.frames, again.frames)
    assert not np.array_equal(out.frames[0], out.frames[1])  # different samples differ


def test_truncation_scales_the_latents(exported):
    pipe = TextToVideoPipeline.from_pretrained(exported)
    caption = ["a red ball moving left on snow"]
    full = pipe(caption, num_samples=3, seed=0)
    assert np.array_equal(pipe(caption, num_samples=3, seed=0, truncation=1.0).frames, full.frames)
    mean = pipe(caption, num_samples=3, seed=0, truncation=0.0).frames
    assert np.array_equal(mean[0], mean[1]) and np.array_equal(mean[0], mean[2])  # every sample: the mean latent
    assert not np.array_equal(mean[0], full.frames[0])
    half = pipe(caption, num_samples=3, seed=0, truncation=0.5).frames.astype(np.int16)

    def spread(f: np.ndarray) -> float:
        return np.abs(f[0] - f[1]).mean() + np.abs(f[0] - f[2]).mean()

    assert 0 < spread(half) < spread(full.frames.astype(np.int16))
    for bad in [-0.1, float("nan"), float("inf")]:
        with pytest.raises(T2VError, match="truncation"):
            pipe(caption, truncation=bad)


def test_unknown_words_warn_and_bad_text_errors(exported):
    pipe = load_pipeline(exported)
    with pytest.warns(UserWarning, match="mars"):
        out = pipe("red ball on mars")
    assert out.unknown_words == {"red ball on mars": ["mars"]}
    for bad in ["", "   ", "zebra mars"]:
        with pytest.raises(T2VError):
            pipe(bad)


def test_save_writes_mp4_gif_png(exported, tmp_path):
    from t2v.data.video import read_video

    out = load_pipeline(exported)(["blue ball on snow"], num_samples=2, seed=3)
    paths = out.save(tmp_path / "clip.mp4", gist=True)
    assert [p.name for p in paths] == ["clip_0.mp4", "clip_0_gist.png", "clip_1.mp4", "clip_1_gist.png"]
    assert read_video(paths[0]).shape == (8, 16, 16, 3)
    assert out.save(tmp_path / "x.gif")[0].stat().st_size > 0
    assert out.save(tmp_path / "x.png")[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_errors(exported, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(exported, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_pipeline(bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="not found"):
        load_pipeline(bad)
    cfg = json.loads((exported / "config.json").read_text())
    cfg["config"]["model"]["gen_channels"] = 16
    shutil.copy(exported / "model.safetensors", bad / "model.safetensors")
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match"):
        load_pipeline(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_pipeline(bad)
    with pytest.raises(CheckpointError, match="neither a directory nor a bundled"):
        load_pipeline(tmp_path / "missing")


def _sample(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "sample.py"), *args], capture_output=True, text=True, cwd=cwd)


def test_sample_cli_contract(exported, tmp_path):
    r = _sample("--checkpoint", str(exported), "--text", "red ball on snow", "--text", "green ball on mars",
                "--num-samples", "2", "--seed", "5", "--out", "o", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    printed = r.stdout.split()
    assert printed == [f"o/{s}{k}{e}" for s in ("red_ball_on_snow_", "green_ball_on_mars_") for k in "01"
                       for e in (".mp4", "_gist.png")]
    assert all((tmp_path / p).is_file() for p in printed)
    assert "warning: unknown words in 'green ball on mars' ignored: mars" in r.stderr
    first = (tmp_path / "o/red_ball_on_snow_0.mp4").read_bytes()
    r = _sample("--checkpoint", str(exported), "--text", "red ball on snow", "--num-samples", "2", "--seed", "5",
                "--out", "o2", cwd=tmp_path)
    assert (tmp_path / "o2/red_ball_on_snow_0.mp4").read_bytes() == first  # same seed -> identical file
    r = _sample("--checkpoint", str(exported), "--text", "red ball", "--format", "png", "--out", "p", cwd=tmp_path)
    assert r.stdout.split() == ["p/red_ball.png", "p/red_ball_gist.png"]


@pytest.mark.parametrize("args, msg", [
    (["--text", "   "], "empty text"),
    (["--text", "zebra"], "no known word"),
    (["--text", "red ball", "--checkpoint", "/nonexistent/dir"], "neither a directory"),
    (["--text", "red ball", "--truncation", "-1"], "truncation must be"),
])
def test_sample_cli_errors_are_one_line(exported, tmp_path, args, msg):
    if "--checkpoint" not in args:
        args = [*args, "--checkpoint", str(exported)]
    r = _sample(*args, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr
