"""T2V networks: shapes, gradients, prior vs posterior paths, two-stream mask, both D fusions."""
from __future__ import annotations

import pytest
import torch

from t2v.config import TextConfig
from t2v.errors import ConfigError
from t2v.models.t2v import T2VGenerator, T2VModelConfig, VideoTextDiscriminator
from t2v.text import build_text_encoder, build_text_processor

CAPS = ["a red ball on grass", "a blue ball on snow moving left"]


def small(**kw) -> T2VModelConfig:
    base = dict(frames=8, size=16, z_dim=8, noise_dim=4, gist_channels=8, gen_channels=8, filter_channels=4,
                disc_channels=8)
    return T2VModelConfig(**{**base, **kw})


def text(dim: int = 16):
    tc = TextConfig(dim=dim, embed_dim=16)
    proc = build_text_processor(tc, CAPS)
    return tc, proc


@pytest.mark.parametrize("two_stream", [True, False])
@pytest.mark.parametrize("prior", ["standard", "text"])
def test_generator_shapes_and_gradients(two_stream, prior):
    tc, proc = text()
    G = T2VGenerator(small(two_stream=two_stream, prior=prior), build_text_encoder(tc, proc))
    ids, mask = proc(CAPS)
    first = torch.rand(2, 3, 16, 16) * 2 - 1
    out = G(ids, mask, first_frame=first)
    assert out["video"].shape == out["post_video"].shape == (2, 3, 8, 16, 16)
    assert out["gist"].shape == (2, 3, 16, 16) and out["mu"].shape == (2, 8)
    assert out["video"].abs().max() <= 1
    assert ("mask" in out) == two_stream
    (out["video"].mean() + out["post_video"].mean() + out["mu"].pow(2).mean()).backward()
    # T2V uses the sentence vector only, so the encoder's per-word projection gets no gradient
    dead = [n for n, p in G.named_parameters() if p.grad is None and not n.startswith("text_encoder.word_proj")]
    assert not dead


@pytest.mark.parametrize("encoder", ["lstm", "bow"])
def test_word_attention_generator_uses_the_words(encoder):
    """With model.word_attention the gist decoder and video generator read per-word features: every attention layer
    and the encoder's word projection get gradients; attention layers follow every up-block of the gist decoder
    and on the fused code and both 3-D up-blocks of the video generator."""
    tc = TextConfig(encoder=encoder, dim=16, embed_dim=16)
    proc = build_text_processor(tc, CAPS)
    G = T2VGenerator(small(word_attention=True, prior="text", size=32), build_text_encoder(tc, proc))
    assert list(G.gist.attend) == ["0", "1"] and len(G.video.attend) == 3  # gist: 8x8, 16x16 (32 = the output)
    ids, mask = proc(CAPS)
    out = G(ids, mask, first_frame=torch.rand(2, 3, 32, 32) * 2 - 1)
    assert out["video"].shape == out["post_video"].shape == (2, 3, 8, 32, 32)
    (out["video"].mean() + out["post_video"].mean() + out["gist"].mean()).backward()
    dead = [n for n, p in G.named_parameters() if p.grad is None]
    assert not dead
    plain = T2VGenerator(small(size=32), build_text_encoder(tc, proc))
    assert not any("attend" in k for k in plain.state_dict())  # the option off leaves the weights as before


def test_sampling_uses_only_text_and_is_deterministic_given_noise():
    tc, proc = text()
    G = T2VGenerator(small(), build_text_encoder(tc, proc)).eval()
    ids, mask = proc(CAPS)
    eps, noise = torch.randn(2, 8), torch.randn(2, 4)
    a = G(ids, mask, eps=eps, noise=noise)["video"]
    b = G(ids, mask, eps=eps, noise=noise)["video"]
    c = G(ids, mask, eps=torch.randn(2, 8), noise=noise)["video"]
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_two_stream_background_is_the_gist():
    tc, proc = text()
    G = T2VGenerator(small(), build_text_encoder(tc, proc)).eval()
    ids, mask = proc(CAPS)
    out = G(ids, mask)
    m = out["mask"]
    recon = m * out["video"].new_tensor(0) + (1 - m) * out["gist"].unsqueeze(2)
    # where the mask is ~0 the clip equals the gist in every frame
    low = (m < 1e-3).expand_as(out["video"])
    if low.any():
        torch.testing.assert_close(out["video"][low], recon[low], atol=2e-3, rtol=0)


@pytest.mark.parametrize("fusion,norm", [("concat", "none"), ("filter", "none"), ("filter", "spectral")])
def test_discriminator_fusions(fusion, norm):
    tc, proc = text()
    D = VideoTextDiscriminator(small(disc_fusion=fusion, disc_norm=norm), build_text_encoder(tc, proc))
    ids, mask = proc(CAPS)
    x = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
    logits = D(x, ids, mask)
    assert logits.shape == (2,)
    swapped = D(x, ids.flip(0), mask.flip(0))
    assert not torch.allclose(logits, swapped)  # the caption changes the judgement
    logits.sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None for n, p in D.named_parameters() if not n.startswith("text_encoder.word_proj"))


def test_bad_sizes_are_config_errors():
    tc, proc = text()
    with pytest.raises(ConfigError, match="multiple of 8"):
        T2VGenerator(small(frames=12), build_text_encoder(tc, proc))
    with pytest.raises(ConfigError, match="power of two"):
        T2VGenerator(small(size=48), build_text_encoder(tc, proc))


def test_spectral_norm_bounds_every_discriminator_layer():
    tc, proc = text()
    D = VideoTextDiscriminator(small(disc_norm="spectral"), build_text_encoder(tc, proc))
    layers = [(n, m) for n, m in D.named_modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Linear))
              and not n.startswith("text_encoder")]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for _, m in layers)
    D.train()
    for _ in range(30):  # power iterations converge while the weights stay fixed
        D(torch.randn(2, 3, 8, 16, 16), *proc(CAPS))
    D.eval()
    for _, m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
        assert sigma < 1.05
    with pytest.raises(ConfigError, match="disc_norm"):
        VideoTextDiscriminator(small(disc_norm="batch"), build_text_encoder(tc, proc))


@pytest.mark.parametrize("fusion", ["concat", "filter"])
def test_discriminator_aux_heads_read_the_clip_not_the_text(fusion):
    """AC-GAN heads: class logits per label from features taken before any text is fused in."""
    tc, proc = text()
    D = VideoTextDiscriminator(small(disc_fusion=fusion), build_text_encoder(tc, proc), aux_classes={"colour": 3, "place": 2})
    ids, mask = proc(CAPS)
    x = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
    logit, aux = D(x, ids, mask, aux=True)
    assert torch.equal(logit, D(x, ids, mask)) and logit.shape == (2,)
    assert {k: tuple(v.shape) for k, v in aux.items()} == {"colour": (2, 3), "place": (2, 2)}
    _, swapped = D(x, ids.flip(0), mask.flip(0), aux=True)
    assert all(torch.equal(aux[k], swapped[k]) for k in aux)  # the caption does not reach the heads
    sum(v.sum() for v in aux.values()).backward()
    assert x.grad is not None and all(D.aux[k].weight.grad is not None for k in aux)
    assert not any(k.startswith("aux.") for k in VideoTextDiscriminator(small(), build_text_encoder(tc, proc)).state_dict())
