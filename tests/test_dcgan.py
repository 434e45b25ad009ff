"""Conditional DCGAN: architecture, GAN-CLS / GAN-INT maths, tiny training runs, export, TextToImagePipeline."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from t2v.config import build_config
from t2v.errors import CheckpointError, ConfigError, T2VError
from t2v.losses import get_adversarial_loss
from t2v.models.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANModelConfig
from t2v.pipelines import load_pipeline
from t2v.pipelines.image import ImageOutput, TextToImagePipeline
from t2v.training.recipes.dcgan import discriminator_loss

ROOT = Path(__file__).resolve().parents[1]
TINY = {"size": 16, "ngf": 8, "ndf": 8, "z_dim": 8, "embed_dim": 8}
TEXT = {"dim": 16, "embed_dim": 16}


class _Words(nn.Module):
    """Stand-in text encoder: sentence = mean of embeddings (enough to test the conditioning paths)."""

    dim = 6

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, self.dim)

    def forward(self, ids, mask):
        from t2v.text import TextFeatures, masked_mean

        words = self.embed(ids)
        return TextFeatures(masked_mean(words, mask), words, mask)


def _captions(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 20, (n, 5), generator=g), torch.ones(n, 5, dtype=torch.bool)


def test_classic_widths_match_the_reference_dcgan_layer_for_layer():
    cfg = DCGANModelConfig(conditional=False)  # 64x64, z 100, ngf = ndf = 64
    G, D = DCGANGenerator(cfg), DCGANDiscriminator(cfg)
    # pytorch/examples dcgan/main.py: netG 3,576,704 and netD 2,765,568 parameters
    assert sum(p.numel() for p in G.parameters()) == 3_576_704
    assert sum(p.numel() for p in D.parameters()) == 2_765_568
    convs_g = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.stride for m in convs_g] == [(1, 1)] + [(2, 2)] * 4 and isinstance(G.net[-1], nn.Tanh)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 4
    assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 4
    convs_d = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [m.stride for m in convs_d] == [(2, 2)] * 4 + [(1, 1)]
    assert isinstance(D.features[1], nn.LeakyReLU) and D.features[1].negative_slope == 0.2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3  # none on the first layer
    no = (nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)  # no pooling, no hidden FC
    assert not any(isinstance(m, no) for m in [*G.modules(), *D.modules()])
    w = torch.cat([m.weight.flatten() for m in convs_g + convs_d])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.001  # N(0, 0.02) init


@pytest.mark.parametrize("size,d_text", [(32, "concat"), (64, "concat"), (32, "projection")])
def test_shapes_and_text_conditioning(size, d_text):
    cfg = DCGANModelConfig(size=size, ngf=8, ndf=8, z_dim=10, embed_dim=4, d_text=d_text)
    G, D = DCGANGenerator(cfg, _Words()).eval(), DCGANDiscriminator(cfg, _Words()).eval()
    ids, mask = _captions(3)
    z = torch.randn(3, 10)
    x = G(z, ids, mask)
    assert x.shape == (3, 3, size, size) and x.abs().max() <= 1
    assert D(x, ids, mask).shape == (3,)
    other_ids, _ = _captions(3, seed=1)
    assert not torch.allclose(G(z, other_ids, mask), x)  # the caption changes the image
    assert not torch.allclose(D(x, other_ids, mask), D(x, ids, mask))  # and D's score
    (D(x, ids, mask).sum()).backward()
    assert G.text_encoder.embed.weight.grad is not None  # gradients reach G's text encoder through D


@pytest.mark.parametrize("d_text", ["concat", "projection"])
def test_discriminator_scores_each_image_against_several_captions(d_text):
    cfg = DCGANModelConfig(**TINY, d_text=d_text)
    D = DCGANDiscriminator(cfg, _Words()).eval()
    x = torch.randn(4, 3, 16, 16)
    (a, am), (b, bm) = _captions(4), _captions(4, seed=1)
    both = D(x, torch.cat([a, b]), torch.cat([am, bm]))
    assert torch.allclose(both, torch.cat([D(x, a, am), D(x, b, bm)]), atol=1e-6)
    with pytest.raises(ValueError, match="whole multiple"):
        D(x, a[:3], am[:3])


def test_projection_discriminator_adds_the_captions_inner_product_with_pooled_features():
    cfg = DCGANModelConfig(**TINY, d_text="projection")
    D = DCGANDiscriminator(cfg, _Words()).eval()
    assert D.fuse is None and D.project.weight.shape == (D.out.in_channels, cfg.embed_dim)
    x = torch.randn(4, 3, 16, 16)
    (a, am), (b, bm) = _captions(4), _captions(4, seed=1)
    h = D.features(x)
    expected = D.out(h).flatten() + (h.sum((2, 3)) * D.project(D.condition(a, am, None))).sum(1)
    assert torch.allclose(D(x, a, am), expected, atol=1e-5)
    # text_score (what the pipeline's rerank scores by): the caption's term alone
    assert torch.allclose(D.text_score(x, a, am), expected - D.out(h).flatten(), atol=1e-5)
    with pytest.raises(ValueError, match="projection discriminator"):
        DCGANDiscriminator(DCGANModelConfig(**TINY, d_text="concat"), _Words()).text_score(x, a, am)
    with torch.no_grad():
        D.project.weight.zero_()  # no projection weights: the caption cannot change the score
    assert torch.equal(D(x, a, am), D(x, b, bm))


def test_gan_int_interpolates_sentence_vectors():
    cfg = DCGANModelConfig(**TINY)
    G = DCGANGenerator(cfg, _Words()).eval()
    ids, mask = _captions(4)
    z = torch.randn(4, 8)
    assert torch.allclose(G(z, ids, mask, beta=1.0), G(z, ids, mask))
    assert torch.allclose(G(z, ids, mask, beta=0.0), G(z, ids.roll(1, 0), mask.roll(1, 0)))  # caption i-1
    s = G.text_encoder(ids, mask).sentence
    half = G.text_proj(0.5 * s + 0.5 * s.roll(1, 0))
    assert torch.allclose(G.condition(ids, mask, 0.5), half, atol=1e-6)


def test_conditional_batchnorm_generator_lets_the_text_set_every_norm():
    """model.g_cond_norm: G's layers are the plain ones, but each BatchNorm has no affine parameters of its own and
    the projected text sets its scale and shift (zero at init: the plain norm); GAN-INT interpolates that text too."""
    from t2v.nn import CondNorm2d

    cfg = DCGANModelConfig(**TINY, g_cond_norm=True)
    G, plain = DCGANGenerator(cfg, _Words()), DCGANGenerator(DCGANModelConfig(**TINY), _Words())
    norms = [m for m in G.modules() if isinstance(m, CondNorm2d)]
    assert len(norms) == sum(isinstance(m, nn.BatchNorm2d) for m in plain.modules()) == 2
    assert all(isinstance(n.norm, nn.BatchNorm2d) and not n.norm.affine for n in norms)
    assert [m.weight.shape for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == \
        [m.weight.shape for m in plain.modules() if isinstance(m, nn.ConvTranspose2d)]
    ids, mask = _captions(4)
    z = torch.randn(4, 8)
    G.eval()
    x = G(z, ids, mask)
    assert x.shape == (4, 3, 16, 16) and x.abs().max() <= 1
    with torch.no_grad():
        G.stem.weight[cfg.z_dim:] = 0  # the text no longer reaches the input: only the norms carry it
        x = G(z, ids, mask)
        before = G(z, _captions(4, seed=1)[0], mask)
        assert torch.allclose(before, x)  # zero-initialised norms: the caption changes nothing yet
        for n in norms:
            n.affine.weight.normal_(0, 0.5)
        assert not torch.allclose(G(z, _captions(4, seed=1)[0], mask), G(z, ids, mask))  # now the norms carry it
        s = G.text_encoder(ids, mask).sentence
        half = G.text_proj(0.5 * s + 0.5 * s.roll(1, 0))
    assert torch.allclose(G.condition(ids, mask, 0.5), half, atol=1e-6)
    G.train()
    G(z, ids, mask).square().mean().backward()
    assert all(n.affine.weight.grad is not None and n.affine.weight.grad.abs().sum() > 0 for n in norms)
    with pytest.raises(ConfigError, match="model.g_cond_norm needs the text-conditional model"):
        DCGANModelConfig(conditional=False, g_cond_norm=True).check()


def test_gan_cls_discriminator_loss_is_reeds_algorithm_1():
    loss = get_adversarial_loss("minimax")
    r, w, f = torch.randn(5), torch.randn(5), torch.randn(5)
    sr, sw, sf = torch.sigmoid(r), torch.sigmoid(w), torch.sigmoid(f)
    # Reed et al.: D maximises log(s_r) + (log(1 - s_w) + log(1 - s_f)) / 2
    want = -(sr.log() + 0.5 * ((1 - sw).log() + (1 - sf).log())).mean()
    assert torch.allclose(discriminator_loss(loss, r, f, w), want, atol=1e-5)
    plain = -(sr.log() + (1 - sf).log()).mean()
    assert torch.allclose(discriminator_loss(loss, r, f), plain, atol=1e-5)


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="power of two"):
        DCGANModelConfig(size=48).check()
    with pytest.raises(ConfigError, match="model.adam"):
        DCGANModelConfig(adam="sgd").check()
    with pytest.raises(ConfigError, match="model.mode_seeking must be >= 0"):
        DCGANModelConfig(mode_seeking=-1).check()
    with pytest.raises(ConfigError, match="cls_hard_negatives is a share"):
        DCGANModelConfig(cls_hard_negatives=2).check()
    with pytest.raises(ConfigError, match="cls_hard_negatives needs GAN-CLS"):
        DCGANModelConfig(cls=False, cls_hard_negatives=0.5).check()
    with pytest.raises(ConfigError, match="needs a text encoder"):
        DCGANGenerator(DCGANModelConfig(**TINY))
    with pytest.raises(ConfigError, match="unknown key 'model.ngff'"):
        build_config({"recipe": "dcgan", "model": {"ngff": 3}})


@pytest.mark.parametrize("aux", [False, True])
def test_caption_scores_score_every_image_against_every_caption(aux):
    from t2v.training.recipes.dcgan import caption_scores

    D = DCGANDiscriminator(DCGANModelConfig(**TINY, d_text="projection"), _Words(), {"place": 3}).eval()
    x = torch.randn(4, 3, 16, 16)
    ids, mask = _captions(3)  # 3 captions for 4 images
    out = caption_scores(D, x, ids, mask, aux=aux)
    scores, heads = out if aux else (out, None)
    assert scores.shape == (4, 3) and scores.dtype == torch.float32
    for i in range(4):
        for j in range(3):
            assert torch.allclose(scores[i, j], D(x[i:i + 1], ids[j:j + 1], mask[j:j + 1])[0], atol=1e-5)
    if aux:
        assert torch.allclose(heads["place"], D(x, ids[:1].expand(4, -1), mask[:1].expand(4, -1), aux=True)[1]["place"])
    # the text-free term is the same for every caption: only the caption term tells them apart
    h = D.features(x)
    assert torch.allclose(scores - D.out(h).flatten()[:, None],
                          torch.stack([D.text_score(x, ids[j:j + 1].expand(4, -1), mask[j:j + 1].expand(4, -1))
                                       for j in range(3)], 1), atol=1e-5)


def test_text_contrastive_trains_and_needs_the_conditional_model(tiny_images, tmp_path):
    from t2v.training import Trainer

    with pytest.raises(ConfigError, match="model.text_contrastive must be >= 0"):
        DCGANModelConfig(text_contrastive=-1).check()
    with pytest.raises(ConfigError, match="text_contrastive needs the text-conditional"):
        DCGANModelConfig(text_contrastive=1, conditional=False).check()
    trainer = Trainer(_cfg(tiny_images, tmp_path, 2, {"d_text": "projection", "text_contrastive": 1.0,
                                                      "aux_labels": ["place"]}))
    # two captions of one training item are never each other's wrong captions; any other two are
    data, recipe = trainer.recipe.data, trainer.recipe
    lists = [data.items[i]["captions"] for i in data.indices("train")]
    distinct = sorted({c for cs in lists for c in cs})
    together = recipe._compatible(distinct, distinct)
    assert together.shape == (len(distinct),) * 2 and not together.diagonal().any()
    for i, c in enumerate(distinct):
        for j, d in enumerate(distinct):
            assert together[i, j] == (c != d and any(c in cs and d in cs for cs in lists))
    assert together.any() and not together.all()
    trainer.fit()
    logs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"text_nce", "text_acc", "aux_g"} <= logs[-1].keys() and all(math.isfinite(v) for v in logs[-1].values())
    assert 0 <= logs[-1]["text_acc"] <= 1 and logs[-1]["text_nce"] > 0


def test_text_contrastive_all_captions_scores_every_training_caption(tiny_images, tmp_path, monkeypatch):
    from t2v.training import Trainer
    from t2v.training.recipes import dcgan as recipe_module

    with pytest.raises(ConfigError, match="text_contrastive_captions must be batch or all"):
        DCGANModelConfig(text_contrastive_captions="some").check()
    trainer = Trainer(_cfg(tiny_images, tmp_path, 2, {"d_text": "projection", "text_contrastive": 1.0,
                                                      "text_contrastive_captions": "all"}, sample_every=0))
    recipe = trainer.recipe
    data = recipe.data
    training = {c for i in data.indices("train") for c in data.items[i]["captions"]}
    assert set(recipe.caption_bank) == training and len(recipe.caption_bank) == len(training)
    assert torch.equal(recipe.bank_compatible, recipe._compatible(recipe.caption_bank, recipe.caption_bank))
    seen, scores_of = [], recipe_module.caption_scores

    def spy(D, x, ids, mask, aux=False):
        out = scores_of(D, x, ids, mask, aux=aux)
        seen.append((ids.clone(), (out[0] if aux else out).detach()))
        return out

    monkeypatch.setattr(recipe_module, "caption_scores", spy)
    batches = []
    step = recipe.train_step
    recipe.train_step = lambda batch, i: (batches.append(list(batch["caption"])), step(batch, i))[1]
    trainer.fit()
    logs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    bank_ids, _ = recipe._text(recipe.caption_bank, torch.device("cpu"))
    assert len(seen) == 2 and all(torch.equal(ids, bank_ids) for ids, _ in seen)
    # the logged loss is the cross-entropy over the whole bank, the captions an item shares with its own left out
    ids, scores = seen[-1]
    own = torch.tensor([recipe.bank_index[c] for c in batches[-1]])
    want = F.cross_entropy(scores.masked_fill(recipe.bank_compatible[own], float("-inf")), own)
    assert logs[-1]["text_nce"] == pytest.approx(want.item(), rel=1e-4)


def test_text_contrastive_start_trains_as_without_it_until_then(tiny_images, tmp_path):
    from t2v.training import Trainer

    with pytest.raises(ConfigError, match="text_contrastive_start must be >= 0"):
        DCGANModelConfig(text_contrastive_start=-1).check()
    runs = {}
    for name, model in (("off", {}), ("from2", {"text_contrastive": 1.0, "text_contrastive_start": 2})):
        t = Trainer(_cfg(tiny_images, tmp_path / name, 3, {"d_text": "projection", **model}, sample_every=0))
        seen = []
        step = t.recipe.train_step
        t.recipe.train_step = lambda batch, i, t=t, step=step, seen=seen: (
            seen.append({k: v.clone() for k, v in t.recipe.unwrap("G").state_dict().items()}), step(batch, i))[1]
        t.fit()
        seen.append(t.recipe.unwrap("G").state_dict())
        runs[name] = seen, [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    (off, off_logs), (late, late_logs) = runs["off"], runs["from2"]
    for i in range(3):  # G's weights before steps 0, 1, 2: the term first applies at step 2
        assert all(torch.equal(off[i][k], late[i][k]) for k in off[i])
    assert not all(torch.equal(off[3][k], late[3][k]) for k in off[3])  # ... and changes what step 2 trains
    assert [("text_nce" in log) for log in late_logs] == [False, False, True]
    assert not any("text_nce" in log for log in off_logs)


@pytest.fixture(scope="module")
def tiny_images(tiny_video_dataset, tmp_path_factory) -> Path:
    from t2v.data.builders.frames import build_frames

    out = tmp_path_factory.mktemp("img") / "frames"
    build_frames(str(tiny_video_dataset), str(out), frame="random", per_clip=2, previews=0, progress_bar=False)
    return out


def _cfg(data: Path, out: Path, steps: int, model: dict | None = None, **train) -> object:
    return build_config({
        "recipe": "dcgan", "data": {"path": str(data), "builder": "", "batch_size": 8},
        "model": {**TINY, **(model or {})}, "text": TEXT,
        "train": {"output_dir": str(out), "max_steps": steps, "log_every": 1, "sample_every": steps,
                  "checkpoint_every": 0, **train},
    })


@pytest.fixture(scope="module")
def exported(tiny_images, tmp_path_factory) -> Path:
    from t2v.training import Trainer

    out = tmp_path_factory.mktemp("run")
    Trainer(_cfg(tiny_images, out, 3, ema_decay=0.9, export_dtype="float16")).fit()
    assert (out / "samples/step_00000003.png").is_file()
    import json

    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"d_real", "d_fake", "d_wrong", "adv_int", "loss_d", "loss_g"} <= logs[-1].keys()
    return out / "final"


def test_export_round_trip_and_determinism(exported):
    pipe = TextToImagePipeline.from_pretrained(exported)
    assert pipe.conditional and pipe.discriminator is not None
    out = pipe(["a red ball moving left on snow", "green ball on grass"], num_samples=3, seed=0)
    assert out.images.shape == (6, 16, 16, 3) and out.images.dtype == np.uint8 and out.frames is out.images
    again = pipe(["green ball on grass"], num_samples=3, seed=0)
    assert np.array_equal(again.images, out.images[3:])  # same seed, same images whatever else is batched
    assert not np.array_equal(pipe(["green ball on grass"], num_samples=3, seed=1).images, again.images)
    assert isinstance(load_pipeline(exported), TextToImagePipeline)
    mean = pipe(["green ball on grass"], num_samples=3, seed=0, truncation=0.0).images  # z = 0 for every sample
    assert np.array_equal(mean[0], mean[1]) and not np.array_equal(mean[0], again.images[0])


@pytest.fixture(scope="module")
def exported_projection(tiny_images, tmp_path_factory) -> Path:
    from t2v.training import Trainer

    out = tmp_path_factory.mktemp("run_projection")
    Trainer(_cfg(tiny_images, out, 3, {"d_text": "projection"}, ema_decay=0.9)).fit()
    return out / "final"


def test_rerank_keeps_the_candidate_the_discriminator_scores_highest(exported_projection, exported, tmp_path,
                                                                     sample_module):
    from t2v.pipelines.base import latent_generator, to_uint8

    pipe = TextToImagePipeline.from_pretrained(exported_projection)
    captions = ["green ball on grass", "a red ball moving left on snow"]
    plain = pipe(captions, num_samples=2, seed=3).images
    assert np.array_equal(pipe(captions, num_samples=2, seed=3, rerank=1).images, plain)
    by_text = pipe(captions, num_samples=2, seed=3, rerank=4).images  # rerank_by="text", the default
    by_logit = pipe(captions, num_samples=2, seed=3, rerank=4, rerank_by="logit").images
    G, D = pipe.generator, pipe.discriminator
    picked = {"text": [], "logit": []}
    with torch.no_grad():
        for c, caption in enumerate(pipe.clean_prompts(captions)[1]):  # unknown words dropped, as the pipeline does
            ids, mask = pipe.text_inputs([caption] * 4)
            for k in range(2):
                gen = latent_generator(3, k)
                z = torch.stack([torch.randn(G.cfg.z_dim, generator=gen) for _ in range(4)])
                x = G(z, ids, mask)
                logit, text = D(x, ids, mask), D.text_score(x, ids, mask)
                # the text term is the logit less its text-free part
                torch.testing.assert_close(text, logit - D.out(D.features(x)).flatten())
                candidates = to_uint8(x.permute(0, 2, 3, 1))
                assert np.array_equal(candidates[0], plain[2 * c + k])  # candidate 0: the sample drawn without rerank
                for name, best, score in (("text", by_text, text), ("logit", by_logit, logit)):
                    assert np.array_equal(best[2 * c + k], candidates[int(score.argmax())])
                    picked[name].append(int(score.argmax()))
    assert any(picked["text"]) and any(picked["logit"])  # some images are not the plain samples
    for bad in (0, -2):
        with pytest.raises(T2VError, match="rerank must be at least 1"):
            pipe(captions, rerank=bad)
    with pytest.raises(T2VError, match="rerank_by must be one of text, logit"):
        pipe(captions, rerank=2, rerank_by="realism")
    with pytest.raises(T2VError, match="rerank needs a text-conditional export with its discriminator"):
        TextToImagePipeline(pipe.generator, pipe.processor, pipe.config)(captions, rerank=2)
    concat = TextToImagePipeline.from_pretrained(exported)  # d_text: concat, no separate text term
    with pytest.raises(T2VError, match="rerank_by text needs a projection discriminator"):
        concat(captions, rerank=2)
    assert concat(captions, num_samples=2, rerank=2, rerank_by="logit").images.shape == plain.shape
    sample_module.main(["--checkpoint", str(exported_projection), "--text", captions[0], "--num-samples", "2", "--seed", "3",
                        "--rerank", "4", "--out", str(tmp_path)])
    from t2v.data.video import read_image

    assert np.array_equal(read_image(tmp_path / "green_ball_on_grass.png"), np.concatenate(list(by_text[:2]), axis=1))


def test_ema_export_has_batchnorm_statistics_of_the_averaged_weights(exported):
    from safetensors.torch import load_file

    from t2v.pipelines.image import WEIGHTS
    from t2v.training.recipes.dcgan import STANDING_STATS_BATCHES
    from t2v.training.trainer import list_checkpoints

    export = load_file(str(exported / WEIGHTS))
    ckpt = list_checkpoints(exported.parent)[-1]
    ema, live = load_file(str(ckpt / "ema_G.safetensors")), load_file(str(ckpt / "model.safetensors"))
    counts = [k for k in export if k.endswith("num_batches_tracked")]
    assert counts and all(int(export[k]) == STANDING_STATS_BATCHES for k in counts)  # re-estimated, not copied
    means = [k for k in export if k.endswith("running_mean")]
    assert all(torch.equal(ema[k], live[k]) for k in means)  # the checkpoint's EMA holds the live statistics
    assert any(not torch.allclose(export[k].float(), live[k], atol=1e-3) for k in means)
    weight = next(k for k in export if k.endswith("weight"))
    torch.testing.assert_close(export[weight].float(), ema[weight], atol=1e-3, rtol=1e-3)  # weights: the EMA's


def test_save_by_prompt_writes_png_grids_and_rejects_video_formats(exported, tmp_path):
    out = TextToImagePipeline.from_pretrained(exported)(["red ball on grass", "blue ball on snow"], num_samples=3)
    paths = out.save_by_prompt(tmp_path)
    assert [p.name for p in paths] == ["red_ball_on_grass.png", "blue_ball_on_snow.png"]
    from t2v.data.video import read_image

    assert read_image(paths[0]).shape == (16, 48, 3)  # a row of the 3 samples
    assert np.array_equal(read_image(paths[1])[:, 16:32], out.images[4])
    for fmt in ("mp4", "gif"):
        with pytest.raises(T2VError, match="text-to-image model: it writes png"):
            out.save_by_prompt(tmp_path, fmt)


def test_sample_cli_writes_png(exported, tmp_path, sample_module):
    r = subprocess.run([sys.executable, str(ROOT / "sample.py"), "--checkpoint", str(exported), "--text",
                        "red ball on mars", "--num-samples", "2", "--out", str(tmp_path)], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "red_ball_on_mars.png")
    assert "unknown words in 'red ball on mars' ignored: mars" in r.stderr
    with pytest.raises(T2VError, match="text-to-image model: it writes png images, not mp4"):
        sample_module.main(["--checkpoint", str(exported), "--text", "red ball", "--format", "mp4",
                            "--out", str(tmp_path)])


def test_evaluator_judges_image_pipelines(exported, tiny_images, tmp_path):
    from t2v.evaluation import evaluate_pipeline, train_classifier
    from t2v.evaluation.classifier import load_classifier

    train_classifier(tiny_images, tmp_path, steps=2, batch_size=8, width=4, progress=False)
    result = evaluate_pipeline(load_pipeline(exported), load_classifier(tmp_path), tiny_images, split="heldout",
                               samples_per_caption=2)
    assert result["num_generated"] == 2 * result["num_captions"] and result["num_captions"] >= 1
    assert {"color", "place"} <= set(result["accuracy"]) and 0 <= result["accuracy"]["all"] <= 1
    assert result["rerank"] == 1
    reranked = evaluate_pipeline(load_pipeline(exported), load_classifier(tmp_path), tiny_images, split="heldout",
                                 samples_per_caption=2, rerank=3, rerank_by="logit")
    assert (reranked["rerank"], reranked["rerank_by"]) == (3, "logit")
    assert reranked["num_generated"] == result["num_generated"]


@pytest.mark.parametrize("loss", ["wgan", "wgan_gp", "hinge"])
def test_objectives_from_the_catalogue_train(tiny_images, tmp_path, loss):
    from t2v.training import Trainer

    model = {"loss": loss, "cls": loss != "hinge", "int_weight": 0.0 if loss == "wgan" else 1.0,
             "mode_seeking": 1.0 if loss == "hinge" else 0.0, "cls_hard_negatives": 0.5 if loss == "wgan_gp" else 0.0}
    trainer = Trainer(_cfg(tiny_images, tmp_path, 2, model, sample_every=0))
    assert trainer._load_pixels.__self__.hard_negatives == model["cls_hard_negatives"]  # the training dataset
    if loss == "wgan":
        assert isinstance(trainer.recipe.opts["D"].optimizer, torch.optim.RMSprop)
    trainer.fit()
    logs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert ("mode_seeking" in logs[-1]) == (loss == "hinge") and all(math.isfinite(v) for v in logs[-1].values())
    if loss == "wgan":  # weight clipping after every D step
        assert max(p.abs().max().item() for p in trainer.recipe.unwrap("D").parameters()) <= 0.01 + 1e-7


def test_unconditional_dcgan(tiny_images, tmp_path):
    from t2v.training import Trainer

    cfg = _cfg(tiny_images, tmp_path, 2, {"conditional": False, "channels_last": False, "adam": "foreach"})
    pipe = TextToImagePipeline.from_pretrained(Trainer(cfg).fit())
    assert not pipe.conditional and not (tmp_path / "final/text").exists()
    with pytest.warns(UserWarning, match="unconditional"):
        out = pipe(["anything"], num_samples=4, seed=0)
    assert isinstance(out, ImageOutput) and out.images.shape == (4, 16, 16, 3)
    assert len({im.tobytes() for im in out.images}) == 4


def test_lr_decay_runs_both_learning_rates_down_to_zero_and_resumes(tiny_images, tmp_path):
    """model.lr_decay_start: constant, then linear to 0 at max_steps (CycleGAN's schedule); the schedulers are in the
    checkpoints, so a resumed run continues the decay. The default (1) keeps the constant rate and adds no scheduler."""
    from t2v.training import Trainer

    assert Trainer(_cfg(tiny_images, tmp_path / "plain", 1)).recipe.scheds == {}
    with pytest.raises(ConfigError, match="lr_decay_start is a fraction"):
        DCGANModelConfig(lr_decay_start=1.5).check()
    model = {"lr_decay_start": 0.5, "lr_g": 4e-4, "lr_d": 2e-4}
    t = Trainer(_cfg(tiny_images, tmp_path / "a", 4, model, checkpoint_every=1, keep_last=4, sample_every=0))
    seen = []
    step = t.recipe.train_step
    t.recipe.train_step = lambda batch, i: (seen.extend(o.param_groups[0]["lr"] for o in t.recipe.opts.values()),
                                            step(batch, i))[1]
    t.fit()
    assert seen == pytest.approx([4e-4, 2e-4] * 3 + [2e-4, 1e-4])  # (G, D) at steps 0-3: decay from step 2 of 4
    assert [o.param_groups[0]["lr"] for o in t.recipe.opts.values()] == [0.0, 0.0]
    assert (tmp_path / "a/checkpoints/step_00000003/scheduler_1.bin").is_file()
    resumed = Trainer(_cfg(tiny_images, tmp_path / "a", 4, model, sample_every=0),
                      resume=str(tmp_path / "a/checkpoints/step_00000003"))
    resumed.load_checkpoint(resumed.resume_from)
    assert [o.param_groups[0]["lr"] for o in resumed.recipe.opts.values()] == pytest.approx([2e-4, 1e-4])
    # a constant-lr run's checkpoint resumed with a schedule: one clear error, not accelerate's missing file
    Trainer(_cfg(tiny_images, tmp_path / "plain", 1, checkpoint_every=1, sample_every=0)).fit()
    written = (tmp_path / "plain/config.json").read_text()
    with pytest.raises(CheckpointError, match="holds no learning-rate schedule"):
        Trainer(_cfg(tiny_images, tmp_path / "plain", 2, model, sample_every=0), resume="latest").fit()
    assert (tmp_path / "plain/config.json").read_text() == written  # the failed resume left the run's config alone


def test_wrong_data_is_a_clear_error(tiny_video_dataset, tmp_path):
    from t2v.training import Trainer

    with pytest.raises(ConfigError, match="datasets/frames.py"):
        Trainer(_cfg(tiny_video_dataset, tmp_path, 1))
    # a bad model value is named by its config key before the data is read (not by the loader's argument name)
    with pytest.raises(ConfigError, match="model.cls_hard_negatives needs GAN-CLS"):
        Trainer(_cfg(tiny_video_dataset, tmp_path, 1, {"cls": False, "cls_hard_negatives": 0.5}))


def test_g_step_adds_no_gradient_to_d(tiny_images, tmp_path):
    """The G update goes through a frozen D (the reference example also computes D's weight gradients there)."""
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_images, tmp_path, 1))
    recipe = trainer.recipe
    D, opt_d = recipe.nets["D"], recipe.opts["D"]
    at_d_step: dict[str, torch.Tensor] = {}
    d_step = opt_d.step

    def spy(*args, **kwargs):
        at_d_step.update({n: None if p.grad is None else p.grad.clone() for n, p in D.named_parameters()})
        return d_step(*args, **kwargs)

    opt_d.step = spy
    recipe.train_step(next(trainer.batches()), 0)
    assert at_d_step["out.weight"] is not None and at_d_step["text_encoder.embed.weight"] is not None
    for n, p in D.named_parameters():
        assert (p.grad is None and at_d_step[n] is None) or torch.equal(p.grad, at_d_step[n]), n
    G = recipe.nets["G"]
    assert G.net[0].weight.grad is not None and G.text_encoder.embed.weight.grad is not None


def test_inpainting_evaluation_scores_gan_and_baselines(exported, tiny_images, tmp_path):
    from t2v.data.format import BuiltDataset
    from t2v.data.video import read_image
    from t2v.evaluation import train_classifier
    from t2v.evaluation.inpainting import hole_errors, hole_masks, main, mean_fill, nearest_fill

    masks = hole_masks("center", 16, 0.5, 2)
    assert masks.shape == (2, 16, 16) and (masks[0] == 0).sum() == 64 and masks[0, 7, 7] == 0 and masks[0, 0, 0] == 1
    assert (hole_masks("left", 16, 0.25, 1)[0, :, :4] == 0).all() and hole_masks("left", 16, 0.25, 1)[0, :, 4:].all()
    ds = BuiltDataset(tiny_images)
    imgs = np.asarray(ds.pixels[:6])
    filled, best = nearest_fill(imgs[:2], masks, imgs)
    known = masks > 0.5  # an image in the bank is its own neighbour (or one with the same known region)
    assert np.array_equal(imgs[best][known], imgs[:2][known]) and np.array_equal(filled, imgs[best])
    assert hole_errors(imgs[:2], imgs[:2], masks)["hole_mae"] == 0
    assert hole_errors(np.zeros_like(imgs[:2]), np.full_like(imgs[:2], 255), masks) == {"hole_mae": 255, "hole_psnr": 0}
    flat = mean_fill(imgs[:2], masks)
    assert np.array_equal(flat[masks > 0.5], imgs[:2][masks > 0.5])  # known pixels kept
    assert len(np.unique(flat[0][masks[0] < 0.5].reshape(-1, 3), axis=0)) == 1  # the hole is one colour

    train_classifier(tiny_images, tmp_path / "clf", steps=2, batch_size=8, width=4, progress=False)
    out = tmp_path / "r.json"
    assert main(["--model", str(exported), "--dataset", str(tiny_images), "--split", "heldout", "--classifier",
                 str(tmp_path / "clf"), "--num-images", "3", "--steps", "3", "--candidates", "2", "--batch-size", "2",
                 "--strip", str(tmp_path / "s.png"), "--out", str(out)]) == 0
    import json

    r = json.loads(out.read_text())
    assert r["images"] == 3 and set(r["fills"]) == {"gan", "nearest_train", "mean_fill"}
    assert r["bank"]["images"] == len(ds.indices("train")) and r["hole_pixels_per_image"] == 64
    assert set(r["label_accuracy"]) == {"original", "gan", "nearest_train", "mean_fill"}
    assert r["contextual_l1"]["end"] <= r["contextual_l1"]["start"] * 1.01
    assert read_image(tmp_path / "s.png").shape == (3 * 18 - 2, 5 * 18 - 2, 3)
    with pytest.raises(T2VError, match="between 0 and 1"):
        main(["--model", str(exported), "--dataset", str(tiny_images), "--hole-size", "1.5"])
    (tmp_path / "afile").write_text("")
    for flag in ("--out", "--strip"):  # an unwritable path is refused before the model is loaded and searched
        with pytest.raises(T2VError, match=f"{flag} .*afile/x: cannot create its directory"):
            main(["--model", str(tmp_path / "no-model"), "--dataset", str(tiny_images), flag, str(tmp_path / "afile/x")])


@pytest.mark.parametrize("d_text", ["concat", "projection"])
def test_discriminator_aux_heads_read_the_image_not_the_text(d_text):
    cfg = DCGANModelConfig(**TINY, d_text=d_text)
    D = DCGANDiscriminator(cfg, _Words(), aux_classes={"action": 6, "place": 5}).eval()
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    (a, am), (b, bm) = _captions(4), _captions(4, seed=1)
    logits, aux = D(x, torch.cat([a, b]), torch.cat([am, bm]), aux=True)  # GAN-CLS: 2 captions per image
    assert logits.shape == (8,) and {k: tuple(v.shape) for k, v in aux.items()} == {"action": (4, 6), "place": (4, 5)}
    assert torch.equal(logits, D(x, torch.cat([a, b]), torch.cat([am, bm])))  # the heads leave the logits alone
    _, swapped = D(x, b, bm, aux=True)
    assert all(torch.equal(aux[k], swapped[k]) for k in aux)  # the caption does not reach the heads
    sum(v.sum() for v in aux.values()).backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is not None for p in D.aux.parameters())
    assert D.text_encoder.embed.weight.grad is None
    assert not any(k.startswith("aux.") for k in DCGANDiscriminator(cfg, _Words()).state_dict())


def test_aux_labels_join_d_and_g_losses_and_survive_export(tiny_images, tmp_path):
    """model.aux_labels: the heads' cross-entropy on the real images joins D's loss, the one on G's images (targets:
    the labels of the item whose caption drove them) joins G's; the exported D keeps its heads."""
    import torch.nn.functional as F

    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_images, tmp_path / "aux", 2, {"aux_labels": ["color", "place"]}))
    recipe = trainer.recipe
    assert set(recipe.nets["D"].aux) == {"color", "place"}
    batch = next(trainer.batches())
    D, labels = recipe.nets["D"], batch["labels"]
    ids, mask = recipe._text(batch["caption"], torch.device("cpu"))
    with torch.no_grad():
        _, aux = D(batch["pixels"].contiguous(memory_format=torch.channels_last), ids, mask, aux=True)
        expect = sum(F.cross_entropy(aux[n], labels[:, c]) for n, c in zip(aux, recipe.aux_columns)) / 2
    torch.manual_seed(0)
    logs = recipe.train_step(batch, 0)
    assert float(logs["aux_d"]) == pytest.approx(float(expect), rel=1e-4)
    for key in ("aux_g", "aux_real_acc", "aux_fake_acc"):
        assert key in logs and torch.isfinite(logs[key])
    # G's loss is its adversarial term plus aux_weight times the heads' loss on its images
    assert float(logs["loss_g"]) == pytest.approx(
        float(logs["adv"] + logs["adv_int"] + logs["aux_g"]), rel=1e-5)
    assert "aux_d" not in Trainer(_cfg(tiny_images, tmp_path / "plain", 1)).recipe.train_step(batch, 0)
    pipe = TextToImagePipeline.from_pretrained(trainer.fit())
    assert {k: v.out_features for k, v in pipe.discriminator.aux.items()} == {"color": 3, "place": 2}
    assert pipe(["green ball on grass"], num_samples=2, seed=0).images.shape == (2, 16, 16, 3)
    with pytest.raises(ConfigError, match="model.aux_labels: shape not among the dataset's labels"):
        Trainer(_cfg(tiny_images, tmp_path / "bad", 1, {"aux_labels": ["shape"]}))
    with pytest.raises(ConfigError, match="model.aux_labels needs the text-conditional model"):
        DCGANModelConfig(conditional=False, aux_labels=["place"]).check()
    with pytest.raises(ConfigError, match="model.aux_labels must name distinct labels"):
        DCGANModelConfig(aux_labels=["place", "place"]).check()


def test_adc_heads_also_learn_generated_images(tiny_images, tmp_path):
    """model.aux_mode=adc: the heads have 2K outputs, D's loss adds their cross-entropy on G's images against
    "generated class k", and the export keeps the 2K-way heads."""
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_images, tmp_path / "adc", 2, {"aux_labels": ["color", "place"], "aux_mode": "adc"}))
    recipe = trainer.recipe
    assert {k: v.out_features for k, v in recipe.nets["D"].aux.items()} == {"color": 6, "place": 4}
    torch.manual_seed(0)
    logs = recipe.train_step(next(trainer.batches()), 0)
    for key in ("aux_d", "aux_d_gen", "aux_gen_acc", "aux_g", "aux_fake_acc"):
        assert key in logs and torch.isfinite(logs[key])
    assert float(logs["loss_g"]) == pytest.approx(float(logs["adv"] + logs["adv_int"] + logs["aux_g"]), rel=1e-5)
    pipe = TextToImagePipeline.from_pretrained(trainer.fit())
    assert {k: v.out_features for k, v in pipe.discriminator.aux.items()} == {"color": 6, "place": 4}
    with pytest.raises(ConfigError, match="model.aux_mode must be ac"):
        DCGANModelConfig(aux_labels=["place"], aux_mode="both").check()
