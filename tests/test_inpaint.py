"""GAN inpainting (Yeh et al. 2016): known region kept, contextual loss decreasing, weighting, CLI errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from t2v.config import build_config
from t2v.data.video import read_image, write_png
from t2v.errors import T2VError
from t2v.inpaint import main as inpaint_cli
from t2v.inpainting import importance_weights, inpaint, inpaint_batch
from t2v.models.dcgan import DCGANDiscriminator, DCGANGenerator
from t2v.pipelines.image import TextToImagePipeline

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"size": 16, "ngf": 8, "ndf": 8, "z_dim": 8, "conditional": False}


def _nets() -> tuple[DCGANGenerator, DCGANDiscriminator, object]:
    torch.manual_seed(0)
    cfg = build_config({"recipe": "dcgan", "model": MODEL})
    G, D = DCGANGenerator(cfg.model), DCGANDiscriminator(cfg.model)
    with torch.no_grad():  # give BatchNorm running statistics of real activations, as after training
        G(torch.randn(64, 8))
        D(G(torch.randn(64, 8)))
    return G.eval(), D.eval(), cfg


def _hole(size: int = 16) -> torch.Tensor:
    mask = torch.ones(size, size)
    mask[4:12, 5:11] = 0
    return mask


def test_known_region_unchanged_and_contextual_loss_goes_down():
    G, D, _ = _nets()
    with torch.no_grad():
        x = G(torch.randn(1, 8, generator=torch.Generator().manual_seed(1)))[0]  # an image G can make
    mask = _hole()
    r = inpaint(G, D, x, mask, steps=40, lr=0.05, candidates=3)
    known = mask.bool()
    assert torch.equal(r.image[:, known], x[:, known])  # the known pixels are returned as they are
    assert torch.equal(r.image[:, ~known], r.generated[:, ~known])  # the hole comes from G(z)
    assert r.contextual.shape == (41,) and r.contextual[-1] < 0.5 * r.contextual[0]
    assert torch.allclose(r.contextual[-1], (mask * (G(r.z[None])[0] - x)).abs().sum(), rtol=1e-4)
    assert G.training is False and all(p.requires_grad for p in G.parameters())  # modes restored


def test_perceptual_term_pulls_towards_what_d_calls_real():
    G, D, _ = _nets()
    x = torch.rand(3, 16, 16) * 2 - 1
    plain = inpaint(G, D, x, _hole(), steps=20, lr=0.05, lam=0.0, candidates=2)
    heavy = inpaint(G, D, x, _hole(), steps=20, lr=0.05, lam=1e3, candidates=2)
    assert heavy.perceptual[-1] < plain.perceptual[-1]  # log(1 - D(G(z))) lower: D finds G(z) more real


def test_importance_weights():
    mask = _hole()[None, None]
    assert torch.equal(importance_weights(mask, 0), mask)
    w = importance_weights(mask, 7)[0, 0]
    assert (w[mask[0, 0] == 0] == 0).all()  # nothing from the hole
    assert w[0, 0] == 0 and w[3, 8] > w[1, 8] > 0  # known pixels count more the closer they are to the hole
    assert torch.isclose(w[3, 8], torch.tensor(3 * 6 / 49))  # rows 4..6 x cols 5..10 of its 7x7 window missing


@pytest.mark.parametrize("mask, msg", [
    (torch.ones(16, 12), "the mask is 12x16 pixels but the image is 16x16"),
    (torch.ones(16, 16), "marks every pixel as known"),
    (torch.zeros(16, 16), "marks no pixel as known"),
])
def test_bad_masks_are_clear_errors(mask, msg):
    G, D, _ = _nets()
    with pytest.raises(T2VError, match=msg):
        inpaint(G, D, torch.zeros(3, 16, 16), mask, steps=1)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inpaint")
    G, D, cfg = _nets()
    TextToImagePipeline(G, None, cfg, D).save_pretrained(d / "model")
    rng = np.random.default_rng(0)
    write_png(d / "in.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    write_png(d / "mask.png", np.repeat((_hole().numpy()[..., None] * 255).astype(np.uint8), 3, -1))
    write_png(d / "mask_small.png", np.full((8, 8, 3), 255, np.uint8))
    write_png(d / "big.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    write_png(d / "mask_big.png", np.repeat(np.kron(_hole().numpy(), np.ones((2, 2)))[..., None] * 255, 3, -1)
              .astype(np.uint8))
    return d


def test_cli_writes_the_blend(files, tmp_path, capsys):
    out = tmp_path / "out.png"
    args = ["--checkpoint", str(files / "model"), "--mask", str(files / "mask.png"), "--steps", "5"]
    assert inpaint_cli([*args, "--image", str(files / "in.png"), "--out", str(out), "--strip", str(tmp_path / "s.png")]) == 0
    assert "contextual L1" in capsys.readouterr().out
    result, given, known = read_image(out), read_image(files / "in.png"), _hole().bool().numpy()
    assert np.array_equal(result[known], given[known])
    assert read_image(tmp_path / "s.png").shape == (16, 48, 3)
    # an image (and mask) larger than the model is resized to the model's size
    inpaint_cli([*args[:2], "--mask", str(files / "mask_big.png"), "--steps", "2", "--image", str(files / "big.png"),
                 "--out", str(out)])
    assert read_image(out).shape == (16, 16, 3)


def test_cli_errors_are_one_line(files, tmp_path):
    r = subprocess.run([sys.executable, "-m", "t2v.inpaint", "--checkpoint", str(files / "model"), "--image",
                        str(files / "in.png"), "--mask", str(files / "mask_small.png"), "--out", str(tmp_path / "o.png")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr == "error: the mask is 8x8 pixels but the image is 16x16; give a mask of " \
                                             "the image's size\n"
    with pytest.raises(T2VError, match="image file not found"):
        inpaint_cli(["--checkpoint", str(files / "model"), "--image", str(tmp_path / "none.png"), "--mask",
                     str(files / "mask.png"), "--out", str(tmp_path / "o.png")])


def test_text_conditional_model_needs_the_caption(files, tmp_path):
    from t2v.text import build_text_encoder, build_text_processor

    cfg = build_config({"recipe": "dcgan", "model": {**MODEL, "conditional": True}, "text": {"dim": 8, "embed_dim": 8}})
    proc = build_text_processor(cfg.text, ["a red ball on grass", "a blue ball on snow"])
    G, D = DCGANGenerator(cfg.model, build_text_encoder(cfg.text, proc)), DCGANDiscriminator(cfg.model, build_text_encoder(cfg.text, proc))
    TextToImagePipeline(G.eval(), proc, cfg, D.eval()).save_pretrained(tmp_path / "model")
    args = ["--checkpoint", str(tmp_path / "model"), "--image", str(files / "in.png"), "--mask", str(files / "mask.png"),
            "--out", str(tmp_path / "o.png"), "--steps", "2"]
    with pytest.raises(T2VError, match="give the caption of the image with --text"):
        inpaint_cli(args)
    assert inpaint_cli([*args, "--text", "a red ball on grass"]) == 0


def test_batch_search_is_per_image():
    G, D, _ = _nets()
    with torch.no_grad():
        x = G(torch.randn(2, 8, generator=torch.Generator().manual_seed(3)))
    masks = torch.stack([_hole(), 1 - _hole()])  # a different hole for each image
    batch = inpaint_batch(G, D, x, masks, steps=15, lr=0.05, candidates=3, seed=5)
    alone = inpaint(G, D, x[0], masks[0], steps=15, lr=0.05, candidates=3, seed=5)  # same first 3 latents
    assert torch.allclose(batch.image[0], alone.image, atol=1e-5) and torch.allclose(batch.z[0], alone.z, atol=1e-5)
    for i in range(2):
        known = masks[i].bool()
        assert torch.equal(batch.image[i][:, known], x[i][:, known])
        assert batch.contextual[i, -1] < batch.contextual[i, 0]
    with pytest.raises(T2VError, match=r"need images \[N, 3, H, W\] and masks \[N, H, W\]"):
        inpaint_batch(G, D, x, masks[:1], steps=1)
