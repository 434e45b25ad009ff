"""TFGAN: shapes and gradients of every module, per-sample text filters, the matched / mismatched D loss, R1, and a
tiny train -> export -> TextToVideoPipeline -> sample.py run on CPU."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from t2v.config import TextConfig, build_config
from t2v.errors import ConfigError
from t2v.nn import CondNorm2d, NCHWGroupNorm, PixelNorm
from t2v.models.tfgan import (
    FrameDecoder, FrameDiscriminator, ResUp, TextBranch, TextVectors, TFGANDiscriminator, TFGANGenerator,
    TFGANModelConfig, VideoDiscriminator,
)
from t2v.text import build_text_encoder, build_text_processor

ROOT = Path(__file__).resolve().parents[1]
CAPS = ["a red ball moving left on snow", "a blue ball moving right on grass"]
TINY = {"frames": 8, "size": 16, "cond_dim": 16, "content_dim": 8, "motion_dim": 4, "gen_channels": 8,
        "disc_channels": 8, "video_disc_channels": 8, "filter_channels": 4}


def small(**kw) -> TFGANModelConfig:
    return TFGANModelConfig(**{**TINY, **kw})


def text():
    tc = TextConfig(dim=16, embed_dim=16)
    proc = build_text_processor(tc, CAPS)
    return tc, proc


def assert_all_grads(module: nn.Module) -> None:
    missing = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_text_vectors_shapes_gradients_and_padding():
    tc, proc = text()
    tv = TextVectors(build_text_encoder(tc, proc), 12)
    ids, mask = proc(CAPS)
    content, motion = tv(ids, mask)
    assert content.shape == motion.shape == (2, 12)
    assert not torch.allclose(content, motion)  # two branches, two different vectors
    (content.sum() + motion.pow(2).sum()).backward()
    assert tv.convs[0].weight.grad.abs().sum() > 0 and tv.convs[1].weight.grad.abs().sum() > 0
    with torch.no_grad():  # padding never changes a caption's vectors
        ids1, mask1 = proc(CAPS[:1])
        padded = F.pad(ids1, (0, 3), value=proc.pad_id), F.pad(mask1, (0, 3), value=False)
        assert torch.allclose(tv(ids1, mask1)[0], tv(*padded)[0], atol=1e-6)


def test_res_up_and_decoder_shapes_and_gradients():
    blk = ResUp(8, 4)
    x = torch.randn(3, 8, 5, 5, requires_grad=True)
    y = blk(x)
    assert y.shape == (3, 4, 10, 10)
    y.pow(2).mean().backward()
    assert x.grad.abs().sum() > 0
    assert_all_grads(blk)
    for size in (16, 64):
        cfg = small(size=size)
        dec = FrameDecoder(cfg)
        out = dec(torch.randn(5, cfg.content_dim + cfg.cond_dim + cfg.motion_dim))
        assert out.shape == (5, 3, size, size) and out.abs().max() <= 1
        out.mean().backward()
        assert_all_grads(dec)


@pytest.mark.parametrize("norm", ["group", "pixel"])
def test_decoder_normalisation(norm):
    """gen_norm puts a norm before every activation of the decoder: each frame is normalised on its own (a frame's
    output does not depend on the other frames of the batch), gradients reach every parameter, and the default adds
    no parameter, so models exported before the option load unchanged."""
    plain, normed = FrameDecoder(small(size=32)), FrameDecoder(small(size=32, gen_norm=norm))
    assert {n for n, _ in plain.named_parameters()} <= {n for n, _ in normed.named_parameters()}
    assert [type(m) for m in plain.modules() if "norm" in type(m).__name__.lower()] == []
    assert any(isinstance(m, nn.GroupNorm if norm == "group" else PixelNorm) for m in normed.modules())
    code = torch.randn(6, 8 + 16 + 4)
    out = normed(code)
    assert out.shape == (6, 3, 32, 32) and out.abs().max() <= 1
    assert torch.allclose(normed(code[:2]), out[:2], atol=1e-5)  # no batch statistics
    out.pow(2).mean().backward()
    assert_all_grads(normed)
    # the pre-activation features are normalised: a 100x larger fc output gives the same frame
    blk = normed.blocks[0]
    x = torch.randn(2, blk.conv1.in_channels, 4, 4)
    assert torch.allclose(blk(100 * x) - blk.skip(F.interpolate(100 * x, scale_factor=2.0)),
                          blk(x) - blk.skip(F.interpolate(x, scale_factor=2.0)), atol=1e-3)


def test_nchw_group_norm_matches_group_norm():
    """Same output and gradients as nn.GroupNorm on channels-last and channels-first input; the output keeps the
    input's memory format; the state dict is GroupNorm's (exports written before it load unchanged)."""
    ref, ours = nn.GroupNorm(4, 8), NCHWGroupNorm(4, 8)
    with torch.no_grad():
        ref.weight.normal_(), ref.bias.normal_()
    ours.load_state_dict(ref.state_dict())
    for fmt in (torch.channels_last, torch.contiguous_format):
        x = torch.randn(3, 8, 5, 6).contiguous(memory_format=fmt).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        a, b = ref(x), ours(x2)
        assert torch.allclose(a, b, atol=1e-5) and b.is_contiguous(memory_format=fmt)
        a.pow(2).sum().backward()
        b.pow(2).sum().backward()
        assert torch.allclose(x.grad, x2.grad, atol=1e-4)
    assert torch.allclose(ref.weight.grad, ours.weight.grad, atol=1e-4)


@pytest.mark.parametrize("norm", ["group", "pixel"])
def test_conditional_norm(norm):
    """gen_cond_norm: every norm's scale and shift are linear maps of the frame's code, zero at init (so the
    decoder starts as the plain normed one), trained by the backward pass, per frame (no batch coupling), and the
    code changes the frame through them (not only through the 4x4 input)."""
    cn = CondNorm2d(norm, 16, 10)
    x, code = torch.randn(4, 16, 8, 8), torch.randn(4, 10)
    assert torch.allclose(cn(x, code), cn.norm(x))  # γ = β = 0 at init
    with torch.no_grad():
        cn.affine.weight.normal_()
    y = cn(x, code)
    assert not torch.allclose(y, cn.norm(x)) and torch.allclose(cn(x[:1], code[:1]), y[:1], atol=1e-5)
    # a code that asks for scale 2 and shift 1 on every channel gets exactly that
    with torch.no_grad():
        cn.affine.weight.zero_()
        cn.affine.bias.copy_(torch.cat([torch.ones(16), torch.ones(16)]))
    assert torch.allclose(cn(x, code), 2 * cn.norm(x) + 1, atol=1e-5)

    plain, cond = FrameDecoder(small(size=32, gen_norm=norm)), FrameDecoder(small(size=32, gen_norm=norm,
                                                                                   gen_cond_norm=True))
    assert sum(isinstance(m, CondNorm2d) for m in cond.modules()) == 2 * len(cond.blocks) + 1
    assert not any(isinstance(m, CondNorm2d) for m in plain.modules())
    code = torch.randn(6, 8 + 16 + 4)
    out = cond(code)
    assert out.shape == (6, 3, 32, 32)
    assert torch.allclose(cond(code[:2]), out[:2], atol=1e-5)
    out.pow(2).mean().backward()
    assert_all_grads(cond)  # the zero-initialised affine maps get gradients too
    # with the fc input held fixed, changing the code now changes the frame (through the norms alone)
    with torch.no_grad():
        for m in cond.modules():
            if isinstance(m, CondNorm2d):
                m.affine.weight.normal_(0, 0.3)
        h0 = cond.fc(code[:1])
        cond.fc.forward = lambda _c: h0.expand(2, -1)
        a, b = cond(torch.randn(2, code.shape[1])).unbind(0)
    assert (a - b).abs().max() > 1e-3


def test_to_rgb_upconv_has_no_checkerboard():
    """A constant feature map goes through the transposed 4x4 stride-2 conv as a period-2 pattern (its taps overlap
    unevenly); through nearest x2 + 3x3 conv it stays constant away from the border. Both decoders give full-size
    frames and gradients everywhere."""
    convt, upconv = FrameDecoder(small(size=32)), FrameDecoder(small(size=32, gen_to_rgb="upconv"))
    flat = torch.ones(1, convt.to_rgb.in_channels, 8, 8)
    a = convt.to_rgb(flat)[..., 2:-2, 2:-2]
    b = upconv.to_rgb(flat)[..., 2:-2, 2:-2]
    assert (a[..., 0::2, :] - a[..., 1::2, :]).abs().max() > 1e-3  # the checkerboard
    assert torch.allclose(b, b[..., :1, :1].expand_as(b), atol=1e-6)
    out = upconv(torch.randn(3, 8 + 16 + 4))
    assert out.shape == (3, 3, 32, 32)
    out.mean().backward()
    assert_all_grads(upconv)


def test_generator_shapes_gradients_and_latents():
    tc, proc = text()
    G = TFGANGenerator(small(), build_text_encoder(tc, proc))
    ids, mask = proc(CAPS)
    assert G.latent_shapes() == {"content": (8,), "motion": (8, 4)}
    video = G(ids, mask)["video"]
    assert video.shape == (2, 3, 8, 16, 16) and video.abs().max() <= 1
    video.pow(2).mean().backward()
    # the LSTM's sentence and word projections are both used (sentence joins the 1-D CNN branches)
    assert_all_grads(G)
    with torch.no_grad():
        z, noise = torch.randn(2, 8), torch.randn(2, 8, 4)
        a = G(ids, mask, content=z, motion=noise)["video"]
        assert torch.equal(a, G(ids, mask, content=z, motion=noise)["video"])  # deterministic given the latents
        assert not torch.allclose(a, G(ids, mask, content=z, motion=torch.randn(2, 8, 4))["video"])
        assert not torch.allclose(a, G(ids.flip(0), mask.flip(0), content=z, motion=noise)["video"])  # text matters
        assert not torch.allclose(a[:, :, 0], a[:, :, -1])  # frames differ: motion codes change over time


@pytest.mark.parametrize("fusion", ["filter", "concat"])
def test_text_branch_shapes_gradients(fusion):
    br = TextBranch(6, 10, 4, (3, 5, 5), fusion, pool_time=True)
    x = torch.randn(2, 6, 4, 8, 8, requires_grad=True)
    out = br(x, torch.randn(2, 10))
    assert out.shape == (2, 4)
    out.sum().backward()
    assert x.grad.abs().sum() > 0
    assert_all_grads(br)
    frame = TextBranch(6, 10, 4, (1, 5, 5), fusion, pool_time=False)
    assert frame(x, torch.randn(2, 10)).shape == (2, 4, 4)  # one vector per frame


def test_text_filters_are_per_sample():
    torch.manual_seed(0)
    br = TextBranch(6, 10, 4, (1, 5, 5), "filter", pool_time=False)
    text_vecs = torch.randn(2, 10)
    kernels = br.filter.kernels(text_vecs)
    assert kernels.shape == (2, 4, 4, 1, 5, 5) and not torch.allclose(kernels[0], kernels[1])
    x = torch.randn(1, 6, 3, 8, 8).expand(2, -1, -1, -1, -1)  # the same clip under two captions
    out = br(x, text_vecs)
    assert not torch.allclose(out[0], out[1])
    # each sample is convolved with its own kernels only: the batched result equals per-sample convolutions
    reduced = br.reduce(x)
    for i in range(2):
        ref = F.conv3d(reduced[i : i + 1], kernels[i], br.filter.to_bias(text_vecs)[i], padding=(0, 2, 2))
        assert torch.allclose(F.leaky_relu(ref, 0.2).mean((3, 4)), out[i : i + 1], atol=1e-5)
    # a 2-D filter: frames are filtered independently (no mixing across time)
    y = x.clone()
    y[:, :, 2] += 1.0
    changed = (br(y, text_vecs) - out).abs().sum((0, 1))
    assert changed[2] > 0 and changed[:2].sum() == 0


@pytest.mark.parametrize("fusion", ["filter", "concat"])
def test_discriminators_shapes_gradients(fusion):
    cfg = small(disc_fusion=fusion)
    video = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
    cond = torch.randn(2, cfg.cond_dim)
    for D, shape in ((FrameDiscriminator(cfg), (2, 8)), (VideoDiscriminator(cfg), (2,))):
        logits = D.score(D.features(video), cond)
        assert logits.shape == shape
        logits.sum().backward()
        assert_all_grads(D)
    tc, proc = text()
    full = TFGANDiscriminator(cfg, build_text_encoder(tc, proc))
    ids, mask = proc(CAPS)
    (f1, v1), (f2, v2) = full(video, [(ids, mask), (ids.flip(0), mask.flip(0))])
    assert f1.shape == (2, 8) and v1.shape == (2,)
    assert not torch.allclose(f1, f2) and not torch.allclose(v1, v2)  # the caption changes the score
    (f1.mean() + v1.mean() + f2.mean() + v2.mean()).backward()
    assert_all_grads(full)
    assert video.grad.abs().sum() > 0


def test_discriminator_aux_heads_read_the_clip_not_the_text():
    """AC-GAN heads: one per label, on the frame trunk (averaged over frames) + video trunk, before any text."""
    tc, proc = text()
    D = TFGANDiscriminator(small(), build_text_encoder(tc, proc), aux_classes={"shape": 3, "direction": 8})
    ids, mask = proc(CAPS)
    video = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
    out, aux = D(video, [(ids, mask)], aux=True)
    assert len(out) == 1 and out[0][0].shape == (2, 8)
    assert {k: tuple(v.shape) for k, v in aux.items()} == {"shape": (2, 3), "direction": (2, 8)}
    _, swapped = D(video, [(ids.flip(0), mask.flip(0))], aux=True)
    assert all(torch.equal(aux[k], swapped[k]) for k in aux)  # the caption does not reach the heads
    sum(v.sum() for v in aux.values()).backward()
    assert video.grad.abs().sum() > 0 and all(p.grad is not None for p in D.aux.parameters())
    assert D.frame.stages[-1][0].weight.grad.abs().sum() > 0 and D.video.stages[-1][0].weight.grad.abs().sum() > 0
    plain = TFGANDiscriminator(small(), build_text_encoder(tc, proc))
    assert not any(k.startswith("aux.") for k in plain.state_dict())
    assert isinstance(plain(video, [(ids, mask)]), list)  # without aux: the list of (frame, video) logits only


@pytest.mark.parametrize("stages", [[0, 1], [0], [1, 2]])
def test_filter_stages_pick_the_branch_inputs(stages):
    """`filter_stages`: the text branches read those trunk stages' maps (stage i: size / 2**(i+1)), one per stage."""
    cfg = small(filter_stages=stages)
    video = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
    cond = torch.randn(2, cfg.cond_dim)
    for D in (FrameDiscriminator(cfg), VideoDiscriminator(cfg)):
        feats = D.features(video)
        assert [x.shape[-1] for x in feats[:-1]] == [16 // 2 ** (i + 1) for i in stages]
        assert len(D.branches) == len(stages)
        D.score(feats, cond).sum().backward()
        assert_all_grads(D)


def test_frame_samples_and_video_size_64():
    tc, proc = text()
    D = TFGANDiscriminator(small(size=64, frames=16, frame_samples=4), build_text_encoder(tc, proc))
    ids, mask = proc(CAPS)
    ((f, v),) = D(torch.randn(2, 3, 16, 64, 64), [(ids, mask)])
    assert f.shape == (2, 4) and v.shape == (2,)


@pytest.mark.parametrize("bad", [{"size": 24}, {"frames": 2}, {"disc_fusion": "add"}, {"frame_samples": 9},
                                 {"filter_size": 4}, {"r1_every": 0}, {"betas": [0.0]},
                                 {"filter_stages": []}, {"filter_stages": [3]}, {"filter_stages": [2, 1]},
                                 {"filter_stages": [1, 1]}, {"gen_norm": "batch"},
                                 {"gen_cond_norm": True}, {"gen_to_rgb": "pixelshuffle"}])
def test_bad_config_values(bad):
    with pytest.raises(ConfigError):
        small(**bad).check()


def _cfg(data: Path, out: Path, **model) -> object:
    return build_config({
        "recipe": "tfgan",
        "data": {"path": str(data), "builder": "", "batch_size": 4},
        "model": {**TINY, **model},
        "text": {"dim": 16, "embed_dim": 16},
        "train": {"output_dir": str(out), "max_steps": 3, "checkpoint_every": 2, "sample_every": 2, "log_every": 1,
                  "ema_decay": 0.9, "sample_prompts": ["a red ball moving left on snow"]},
    })


class ScriptedD(nn.Module):
    """Returns fixed logits per call: (real, [matched, mismatched]) then (fake, [matched]); records the texts."""

    def __init__(self, values: list[list[tuple[float, float]]]):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.values, self.calls = values, []

    def forward(self, video, texts, aux=False):
        assert not aux
        self.calls.append([ids.clone() for ids, _ in texts])
        vals = self.values[len(self.calls) - 1]
        b, t = video.shape[0], video.shape[2]
        through = 0 * video.mean()  # keeps the graph to G's output in the generator step
        return [(self.scale * torch.full((b, t), f) + through, self.scale * torch.full((b,), v) + through)
                for f, v in vals]


def test_matched_mismatched_discriminator_loss(tiny_video_dataset, tmp_path):
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path, r1_gamma=0.0))
    recipe = trainer.recipe
    stub = ScriptedD([[(1.0, 2.0), (-3.0, -4.0)], [(5.0, 6.0)], [(0.5, -0.5)]])
    recipe.nets["D"] = stub
    recipe.opts["D"] = torch.optim.SGD(stub.parameters(), lr=0.0)
    batch = next(trainer.batches())
    logs = recipe.train_step(batch, 0)
    sp = F.softplus
    t = torch.tensor
    # real+matched -> real; fake+matched and real+mismatched -> fake, averaged (mismatch_weight 0.5)
    want = sp(t(-1.0)) + sp(t(-2.0)) + 0.5 * (sp(t(5.0)) + sp(t(6.0))) + 0.5 * (sp(t(-3.0)) + sp(t(-4.0)))
    assert torch.allclose(logs["loss_d"], want)
    assert logs["frame_match_acc"] == 1 and logs["video_match_acc"] == 1
    # G is scored by the same D on its fakes with the matched captions (non-saturating: softplus(-logit))
    assert torch.allclose(logs["loss_g"], sp(t(-0.5)) + sp(t(0.5)))
    matched, _ = recipe._text(batch["caption"], torch.device("cpu"))
    mismatched, _ = recipe._text(batch["mismatched_caption"], torch.device("cpu"))
    assert torch.equal(stub.calls[0][0], matched) and torch.equal(stub.calls[0][1], mismatched)
    assert torch.equal(stub.calls[1][0], matched) and torch.equal(stub.calls[2][0], matched)


def test_aux_labels_join_d_and_g_losses(tiny_video_dataset, tmp_path):
    """model.aux_labels: the heads' cross-entropy on real clips joins D's loss, the one on generated clips (targets:
    the labels of the item whose caption drove them) joins G's; the export is G only."""
    import numpy as np

    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / "aux", aux_labels=["color", "place"], r1_gamma=0.0))
    recipe = trainer.recipe
    assert set(recipe.nets["D"].aux) == {"color", "place"}
    batch = next(trainer.batches())
    D, labels = recipe.nets["D"], batch["labels"]
    text = recipe._text(batch["caption"], torch.device("cpu"))
    with torch.no_grad():
        _, aux = D(batch["pixels"], [text], aux=True)
        expect = sum(F.cross_entropy(aux[n], labels[:, c]) for n, c in zip(aux, recipe.aux_columns)) / 2
    assert float(expect) == pytest.approx(np.log(3) / 2 + np.log(2) / 2, rel=0.3)  # untrained heads ~ chance
    torch.manual_seed(0)
    logs = recipe.train_step(batch, 0)
    assert float(logs["aux_d"]) == pytest.approx(float(expect), rel=1e-4)
    for key in ("aux_g", "aux_real_acc", "aux_fake_acc"):
        assert key in logs and torch.isfinite(logs[key])
    # without the heads D's loss is only the adversarial part
    plain = Trainer(_cfg(tiny_video_dataset, tmp_path / "plain", r1_gamma=0.0)).recipe
    assert "aux_d" not in plain.train_step(batch, 0)
    final = Trainer(_cfg(tiny_video_dataset, tmp_path / "fit", aux_labels=["place"])).fit()
    assert (final / "model.safetensors").is_file()
    with pytest.raises(ConfigError, match="model.aux_labels: shape not among the dataset's labels"):
        Trainer(_cfg(tiny_video_dataset, tmp_path / "bad", aux_labels=["shape"]))
    with pytest.raises(ConfigError, match="model.aux_labels must name distinct labels"):
        small(aux_labels=["place", "place"]).check()


def test_r1_penalty_every_k_steps(tiny_video_dataset, tmp_path):
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path, r1_every=2))
    batch = next(trainer.batches())
    logs0 = trainer.recipe.train_step(batch, 0)
    logs1 = trainer.recipe.train_step(batch, 1)
    assert logs0["r1"] > 0 and "r1" not in logs1


@pytest.fixture(scope="module")
def exported(tiny_video_dataset, tmp_path_factory) -> Path:
    from t2v.training import Trainer

    out = tmp_path_factory.mktemp("tfgan_run")
    final = Trainer(_cfg(tiny_video_dataset, out)).fit()
    assert (out / "samples/step_00000002.png").is_file()
    return final


def test_export_loads_and_samples(exported):
    import numpy as np

    from t2v.pipelines import load_pipeline
    from t2v.pipelines.t2v import TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(exported)
    assert type(pipe.generator).__name__ == "TFGANGenerator"
    out = pipe(["a red ball moving left on snow", "green ball on grass"], num_samples=2, seed=0)
    assert out.frames.shape == (4, 8, 16, 16, 3) and out.frames.dtype == np.uint8 and out.gists is None
    again = load_pipeline(exported)(["a red ball moving left on snow"], num_samples=2, seed=0)
    assert np.array_equal(again.frames, out.frames[:2])
    assert not np.array_equal(out.frames[0], out.frames[1])


def test_conditional_norm_trains_exports_and_loads(tiny_video_dataset, tmp_path):
    """A decoder with conditional GroupNorm goes through the trainer, and the export rebuilds it: the loaded
    generator has the conditional norms and the trained (no longer zero) scale and shift maps."""
    from t2v.pipelines.t2v import TextToVideoPipeline
    from t2v.training import Trainer

    final = Trainer(_cfg(tiny_video_dataset, tmp_path, gen_norm="group", gen_cond_norm=True)).fit()
    g = TextToVideoPipeline.from_pretrained(final).generator
    norms = [m for m in g.modules() if isinstance(m, CondNorm2d)]
    assert g.cfg.gen_cond_norm and len(norms) == 2 * len(g.decoder.blocks) + 1
    assert all(m.affine.weight.abs().sum() > 0 for m in norms)


def test_sample_cli(exported, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "sample.py"), "--checkpoint", str(exported), "--text",
                        "blue ball moving right on snow", "--num-samples", "2", "--format", "gif", "--out", "o"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["o/blue_ball_moving_right_on_snow_0.gif", "o/blue_ball_moving_right_on_snow_1.gif"]
    assert all((tmp_path / p).stat().st_size > 0 for p in r.stdout.split())


def test_adc_heads_learn_real_and_generated_classes(tiny_video_dataset, tmp_path):
    """model.aux_mode=adc (ADC-GAN): 2K outputs per label; D's heads learn "real class k" on real clips and
    "generated class k" on G's; G pays CE(real k) - CE(generated k)."""
    import numpy as np

    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / "adc", aux_labels=["color", "place"], aux_mode="adc",
                           r1_gamma=0.0))
    recipe = trainer.recipe
    assert recipe.aux_adc and recipe.aux_values == {"color": 3, "place": 2}
    assert {n: h[-1].out_features for n, h in recipe.nets["D"].aux.items()} == {"color": 6, "place": 4}
    labels = torch.tensor([[0, 1], [2, 0], [1, -1]])  # the last item has no place: skipped for that head
    torch.manual_seed(0)
    logits = {"color": torch.randn(3, 6), "place": torch.randn(3, 4)}
    ce = F.cross_entropy
    real = (ce(logits["color"], labels[:, 0]) + ce(logits["place"][:2], labels[:2, 1])) / 2
    gen = (ce(logits["color"], labels[:, 0] + 3) + ce(logits["place"][:2], labels[:2, 1] + 2)) / 2
    logs = {}
    assert float(recipe._aux_term(logits, labels, logs, real=True)) == pytest.approx(float(real), rel=1e-6)
    assert float(recipe._aux_generated_term(logits, labels, logs)) == pytest.approx(float(gen), rel=1e-6)
    assert float(recipe._aux_term(logits, labels, logs, real=False, adc=True)) == pytest.approx(float(real - gen), rel=1e-6)
    assert float(recipe._aux_term(logits, labels, logs, real=False)) == pytest.approx(float(real), rel=1e-6)
    assert {"aux_d", "aux_d_gen", "aux_gen_acc", "aux_g", "aux_fake_acc"} <= set(logs)
    batch = next(trainer.batches())
    logs = recipe.train_step(batch, 0)
    for key in ("aux_d", "aux_d_gen", "aux_gen_acc", "aux_g", "aux_fake_acc"):
        assert key in logs and torch.isfinite(logs[key])
    # untrained heads read the generated clips near chance over 2K classes
    assert float(logs["aux_d_gen"]) == pytest.approx(np.log(6) / 2 + np.log(4) / 2, rel=0.3)
    # model.aux_adc_start: before it the 2K-way heads learn from real clips only (no D pass on G's heads)
    late = Trainer(_cfg(tiny_video_dataset, tmp_path / "late", aux_labels=["place"], aux_mode="adc",
                        aux_adc_start=5, r1_gamma=0.0)).recipe
    assert not late.adc_on(4) and late.adc_on(5)
    early = late.train_step(batch, 0)
    assert "aux_d" in early and "aux_d_gen" not in early
    # ... and G's aux term is then CE(real k) alone, so it is positive (the adc one can go below zero)
    assert float(early["aux_g"]) > 0
    assert "aux_d_gen" in late.train_step(batch, 5)
    final = trainer.fit()
    assert (final / "model.safetensors").is_file()
    with pytest.raises(ConfigError, match="model.aux_mode must be ac"):
        small(aux_labels=["place"], aux_mode="acgan").check()
    with pytest.raises(ConfigError, match="model.aux_mode adc trains the label heads of model.aux_labels"):
        small(aux_mode="adc").check()
    with pytest.raises(ConfigError, match="model.aux_adc_start is a step"):
        small(aux_labels=["place"], aux_mode="adc", aux_adc_start=-1).check()


def test_gaussian_blur_of_the_d_probe():
    from conftest import load_root_module

    gaussian_blur = load_root_module("benchmarks/tfgan_d_probe.py").gaussian_blur

    flat = torch.full((1, 3, 2, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.0), flat)  # a constant clip is left alone, edges included
    dot = torch.zeros(1, 1, 1, 9, 9)
    dot[..., 4, 4] = 1
    soft, softer = gaussian_blur(dot, 0.7), gaussian_blur(dot, 1.5)
    assert soft.shape == dot.shape and torch.isclose(soft.sum(), torch.tensor(1.0))  # mass kept away from edges
    assert 1 > soft.max() > softer.max() and torch.equal(soft[..., 4, :], soft[..., :, 4].flatten().view(1, 1, 1, 9))


def test_d_probe_reads_a_checkpoint(exported, tmp_path):
    """The probe runs on a trained run's checkpoint and prints one row per kind of clip; a run without
    checkpoints is one error line."""
    run = exported.parent
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/tfgan_d_probe.py"), "--run", str(run), "--batches", "1",
                        "--sigma", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[0][2:] for row in rows] == ["clips", "real", "real, blurred (sigma 1)",
                                                         "real, wrong caption", "real, shifted 1 px", "G (live)",
                                                         "G, blurred (sigma 1)", "G, shifted 1 px"]
    assert "at step 3" in r.stdout
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/tfgan_d_probe.py"), "--run", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr.strip().startswith("error:") and "Traceback" not in r.stderr
