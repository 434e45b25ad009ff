"""CycleGAN: networks, history pool, lr schedule, one step against the reference step, resume with pools,
translation pipeline, sample.py --input, domain selection and the translation evaluation."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from t2v.config import build_config
from t2v.data.domains import DomainView, UnpairedDataset, paint_distractors, select_items
from t2v.data.format import BuiltDataset, DatasetWriter
from t2v.errors import ConfigError, DatasetError, T2VError
from t2v.models.cyclegan import (
    ImagePool, PatchDiscriminator, PatchDiscriminatorConfig, ResnetGenerator, ResnetGeneratorConfig,
)
from t2v.training.recipe import linear_decay

ROOT = Path(__file__).resolve().parents[1]
TINY = {"generator": {"ngf": 4, "n_blocks": 1}, "discriminator": {"ndf": 4, "n_layers": 2}, "pool_size": 3}


def make_unpaired(out: Path, n: int = 12, size: int = 16) -> Path:
    """Domain A: dark squares, domain B: bright squares; label `digit` 0/1 = square on the left/right."""
    rng = np.random.default_rng(0)
    w = DatasetWriter(out, "unpaired", (size, size, 3), labels={"digit": ["0", "1"]})
    for domain, ink in (("A", 90), ("B", 250)):
        for k in range(n):
            img = np.full((size, size, 3), 20, np.uint8)
            x = 2 if k % 2 == 0 else size // 2 + 1
            y = int(rng.integers(2, size - 7))
            img[y : y + 5, x : x + 5] = ink
            w.add(img, [f"{domain} {k % 2}"], {"digit": str(k % 2)}, split="test" if k >= n - 2 else "train",
                  domain=domain)
    w.close(num_previews=0)
    return out


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> Path:
    return make_unpaired(tmp_path_factory.mktemp("data") / "unpaired")


def cyclegan_cfg(data: Path, out: Path, steps: int, **model) -> object:
    return build_config({
        "recipe": "cyclegan", "data": {"path": str(data), "builder": "", "batch_size": 2, "mismatched": False},
        "model": {**TINY, **model},
        "train": {"output_dir": str(out), "max_steps": steps, "checkpoint_every": 2, "sample_every": 2,
                  "log_every": 1},
    })


# --- networks -------------------------------------------------------------------------------------------------------
def test_generator_shapes_range_and_layers():
    G = ResnetGenerator(ResnetGeneratorConfig(ngf=8, n_blocks=3))
    y = G(torch.randn(2, 3, 20, 24))
    assert y.shape == (2, 3, 20, 24) and y.abs().max() <= 1
    kinds = [type(m).__name__ for m in G.modules()]
    assert kinds.count("ResnetBlock") == 3 and "BatchNorm2d" not in kinds
    assert kinds.count("ReflectionPad2d") == 2 + 2 * 3  # c7s1 in and out, two per residual block
    convs = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs[:3]] == [8, 16, 32] and convs[-1].kernel_size == (7, 7)
    assert all(not m.affine for m in G.modules() if isinstance(m, torch.nn.InstanceNorm2d))


def test_instance_norm_makes_batching_exact():
    torch.manual_seed(0)
    G = ResnetGenerator(ResnetGeneratorConfig(ngf=4, n_blocks=1))
    D = PatchDiscriminator(PatchDiscriminatorConfig(ndf=4))
    a, b = torch.randn(2, 1, 3, 32, 32)
    torch.testing.assert_close(G(torch.cat([a, b])), torch.cat([G(a), G(b)]))
    torch.testing.assert_close(D(torch.cat([a, b])), torch.cat([D(a), D(b)]))


def test_patchgan_receptive_field_is_70():
    D = PatchDiscriminator(PatchDiscriminatorConfig(ndf=2, norm="none"))
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    out = D(x)
    assert out.shape == (1, 1, 14, 14)  # 128 -> 64 -> 32 -> 16 -> 15 -> 14 patches
    out[0, 0, 7, 7].backward()
    rows = x.grad.abs().sum((0, 1, 3)).nonzero()
    cols = x.grad.abs().sum((0, 1, 2)).nonzero()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_attention_generator_blends_content_into_the_input():
    """output = a * tanh(content) + (1 - a) * input: a mask of 0 returns the input, 1 the content, and the mask is
    one more channel of the same last conv (parameter names as without attention)."""
    torch.manual_seed(0)
    G = ResnetGenerator(ResnetGeneratorConfig(ngf=4, n_blocks=1, attention=True))
    plain = ResnetGenerator(ResnetGeneratorConfig(ngf=4, n_blocks=1))
    assert set(G.state_dict()) == set(plain.state_dict())
    last = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert last.out_channels == 4
    x = torch.rand(2, 3, 12, 16) * 2 - 1
    y, mask = G.translate(x)
    assert y.shape == x.shape and mask.shape == (2, 1, 12, 16) and 0 < mask.min() and mask.max() < 1
    torch.testing.assert_close(G(x), y)
    content = torch.tanh(G.net(x)[:, :3])
    torch.testing.assert_close(y, mask * content + (1 - mask) * x)
    with torch.no_grad():
        last.bias[3] = -40.0  # mask ~ 0: the input comes back untouched
        torch.testing.assert_close(G(x), x)
        last.bias[3] = 40.0  # mask ~ 1: the generated content alone
        torch.testing.assert_close(G(x), content)
    assert plain.translate(x)[1] is None
    with pytest.raises(ConfigError, match="attention blends the output with the input"):
        ResnetGenerator(ResnetGeneratorConfig(in_channels=1, attention=True))
    for start in (0.1, 0.9):  # the mask starts near attention_init (the conv's weights are small)
        m = ResnetGenerator(ResnetGeneratorConfig(ngf=4, n_blocks=1, attention=True, attention_init=start)).translate(x)[1]
        assert abs(m.mean().item() - start) < 0.03
    with pytest.raises(ConfigError, match="attention_init is the starting mask"):
        ResnetGenerator(ResnetGeneratorConfig(attention=True, attention_init=1.0))


def test_config_errors():
    with pytest.raises(ConfigError, match="generator.norm must be one of instance, none"):
        ResnetGenerator(ResnetGeneratorConfig(norm="batch"))
    with pytest.raises(ConfigError, match="model.adam"):
        build_config({"recipe": "cyclegan", "model": {"adam": "sgd"}}).model.check()
    with pytest.raises(ConfigError, match="unknown key 'model.generator.blocks'"):
        build_config({"recipe": "cyclegan", "model": {"generator": {"blocks": 9}}})


def test_multi_critic_objectives_are_refused(unpaired, tmp_path):
    with pytest.raises(ConfigError, match="'wgan_gp' wants 5 critic steps"):
        _recipe(cyclegan_cfg(unpaired, tmp_path, 2, loss="wgan_gp"))


# --- pool and schedule ----------------------------------------------------------------------------------------------
def test_image_pool_fills_then_swaps_and_round_trips():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and len(pool) == 4  # filling: returned as given
    before = [float(x) for x in pool.images]
    queries = torch.arange(100.0, 300.0).view(200, 1, 1, 1)
    out = pool.query(queries).flatten().tolist()
    own = sum(o == q for o, q in zip(out, queries.flatten().tolist()))
    assert 60 < own < 140  # each image is passed through with probability 1/2
    # every image is either returned now or kept: outputs + pool after == queries + pool before
    assert sorted(out + [float(x) for x in pool.images]) == sorted(queries.flatten().tolist() + before)
    clone = ImagePool(4)
    clone.load_state_dict(pool.state_dict())
    torch.manual_seed(1)
    expect = pool.query(torch.full((8, 1, 1, 1), 5.0))
    torch.manual_seed(1)
    assert torch.equal(clone.query(torch.full((8, 1, 1, 1), 5.0)), expect)
    assert torch.equal(ImagePool(0).query(first), first)


def test_linear_decay_schedule():
    f = linear_decay(100, 0.5)
    assert [f(s) for s in (0, 49, 50, 75, 99, 100)] == [1.0, 1.0, 1.0, 0.5, 0.02, 0.0]
    assert linear_decay(10, 1.0)(9) == 1.0


# --- training ---------------------------------------------------------------------------------------------------
def _recipe(cfg, data_cls=None):
    from accelerate import Accelerator

    from t2v.training.recipes.cyclegan import CycleGANRecipe
    from t2v.training.trainer import _reset_single_process_state

    _reset_single_process_state()
    r = CycleGANRecipe(cfg, Accelerator(cpu=True))
    r.build(r.build_dataset())
    return r


def test_step_matches_reference_optimize_parameters(unpaired, tmp_path):
    """One t2v step (batched passes, foreach Adam) == the reference step (separate calls, single-tensor Adam)."""
    from conftest import load_root_module

    reference_step = load_root_module("benchmarks/cyclegan_speed.py").reference_step

    torch.manual_seed(0)
    ours = _recipe(cyclegan_cfg(unpaired, tmp_path, 10, pool_size=2, lr_decay_start=1.0))
    ref_nets = copy.deepcopy(ours.nets)
    G = [*ref_nets["G_AB"].parameters(), *ref_nets["G_BA"].parameters()]
    D = [*ref_nets["D_A"].parameters(), *ref_nets["D_B"].parameters()]
    ref_opts = {"G": torch.optim.Adam(G, lr=2e-4, betas=(0.5, 0.999)), "D": torch.optim.Adam(D, lr=2e-4, betas=(0.5, 0.999))}
    ref_pools = {"A": ImagePool(2), "B": ImagePool(2)}
    for step in range(3):  # fills the pools, then swaps
        a, b = torch.rand(2, 2, 3, 16, 16).mul(2).sub(1).unbind(0)
        state = torch.get_rng_state()
        logs = ours.train_step({"A": a, "B": b}, step)
        torch.set_rng_state(state)
        reference_step(ref_nets, ref_opts, ref_pools, a, b)
    # compare the nets as functions: the biases of convs followed by instance norm get only rounding-noise
    # gradients (the norm cancels them), which Adam turns into arbitrary +-lr steps, but they do not change outputs
    probe = torch.rand(3, 3, 16, 16) * 2 - 1
    for name, net in ours.nets.items():
        torch.testing.assert_close(net(probe), ref_nets[name](probe), rtol=1e-4, atol=1e-5, msg=name)
        moved = [(p - q).abs().max() for p, q in zip(net.parameters(), ref_nets[name].parameters())]
        assert max(moved) < 2.5 * 3 * 2e-4  # no parameter moved more than a few Adam steps apart
    assert set(logs) >= {"adv", "cycle", "identity", "loss_D_A", "loss_D_B", "loss_g", "loss_d", "lr"}


@pytest.mark.parametrize("semantic,distractors,readers", [(0.0, 0.0, 0), (1.0, 0.0, 0), (1.0, 0.0, 3), (0.0, 0.5, 0)])
def test_resume_restores_optimizers_schedulers_and_pools(unpaired, tmp_path, semantic, distractors, readers):
    """A run resumed from step 2 ends bit-identical to the uninterrupted run (an empty pool would not); with the
    semantic loss the checkpoint also holds the frozen classifier (and, with `readers`, f self-trained on B and the
    readers of each domain, rebuilt the same); pasted distractors are redrawn the same."""
    import shutil

    from safetensors.torch import load_file

    from t2v.training import Trainer

    cfg = lambda out: cyclegan_cfg(unpaired, out, 6, semantic_weight=semantic, semantic_steps=5,  # noqa: E731
                                   distractors=distractors, semantic_augment=bool(readers),
                                   semantic_adapt_steps=readers, semantic_target_steps=readers,
                                   semantic_source_steps=readers)
    first = Trainer(cfg(tmp_path / "a"))  # 5 batches per epoch: crosses an epoch
    first.fit()
    assert first.recipe.dataset.epoch == 1  # accelerate forwards the trainer's set_epoch to the dataset
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for step in (4, 6):
        shutil.rmtree(tmp_path / f"b/checkpoints/step_{step:08d}")
    t = Trainer(cfg(tmp_path / "b"), resume="latest")
    assert t.resume_from.name == "step_00000002"
    t.fit()
    ckpt_a, ckpt_b = tmp_path / "a/checkpoints/step_00000006", tmp_path / "b/checkpoints/step_00000006"
    files = sorted(p.name for p in ckpt_a.iterdir())
    assert {"custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "scheduler.bin", "optimizer_1.bin"} <= set(files)
    for f in files:
        if f.endswith(".safetensors"):
            a, b = load_file(str(ckpt_a / f)), load_file(str(ckpt_b / f))
            assert all(torch.equal(a[k], b[k]) for k in a), f
        elif f.endswith((".bin", ".pkl")) and not f.startswith("random_states"):
            assert _same(torch.load(ckpt_a / f, weights_only=False), torch.load(ckpt_b / f, weights_only=False)), f
    pool = torch.load(ckpt_a / "custom_checkpoint_0.pkl", weights_only=False)["images"]
    assert pool.shape == (3, 3, 16, 16)  # pool_size 3, full after 2 batches of 2
    assert (tmp_path / "a/samples/step_00000002.png").is_file()
    if semantic:
        f = torch.load(ckpt_a / "custom_checkpoint_2.pkl", weights_only=False)
        assert _same(f, first.recipe.semantic.state_dict())
        assert (ckpt_a / "custom_checkpoint_4.pkl").is_file() == bool(readers)  # f_B, f_A
        assert _same(t.recipe.readers["A"].state_dict(), first.recipe.readers["A"].state_dict())
    lr = [json.loads(x)["lr"] for x in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert lr == pytest.approx([2e-4] * 4 + [4e-4 / 3, 2e-4 / 3])  # constant, then linear decay over the second half


def test_semantic_loss_trains_a_frozen_classifier_of_domain_a(unpaired, tmp_path, capsys):
    """CyCADA's term: f learns A's labels before the first step, is frozen, leaves the nets' initialisation alone,
    and its loss reaches both generators only."""
    torch.manual_seed(0)
    plain = _recipe(cyclegan_cfg(unpaired, tmp_path, 4))
    torch.manual_seed(0)
    r = _recipe(cyclegan_cfg(unpaired, tmp_path, 4, semantic_weight=1.0, semantic_steps=40, semantic_lr=3e-3))
    out = capsys.readouterr().out
    assert "semantic classifier f (digit): 100.0% on 2 test images of domain=A" in out
    assert "on 2 test images of domain=B" in out  # a report on B's labelled test images; they train nothing
    assert "self-trained" not in out
    for name, net in plain.nets.items():
        assert all(torch.equal(p, q) for p, q in zip(net.parameters(), r.nets[name].parameters())), name
    f = r.semantic
    assert not f.training and not any(p.requires_grad for p in f.parameters())
    ds = BuiltDataset(unpaired)
    idx = select_items(ds, "domain=A", "train")
    x = torch.from_numpy(np.asarray(ds.pixels[idx])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    y = torch.from_numpy(ds.all_label_ids[idx, 0])
    assert (f(x).argmax(1) == y).float().mean() == 1.0  # the square's side, learnt from A's labels
    before = {k: copy.deepcopy(v.state_dict()) for k, v in r.nets.items()}
    f_before = copy.deepcopy(f.state_dict())
    logs = r.train_step({"A": x[:2], "B": x[:2].neg()}, 0)
    assert logs["semantic"] > 0
    assert _same(f.state_dict(), f_before)
    assert all(not _same(r.nets[k].state_dict(), before[k]) for k in r.nets)


def test_semantic_classifier_self_trained_on_domain_b_without_its_labels(unpaired, tmp_path, capsys):
    """With semantic_adapt_steps f also trains on B's images, and B's labels are never read: the same f comes out
    when every B label is blanked; a different seed gives a different f, the same seed the same one."""
    import shutil

    blank = tmp_path / "blank"
    shutil.copytree(unpaired, blank)
    items = [json.loads(line) for line in (blank / "items.jsonl").read_text().splitlines()]
    for it in items:
        if it.get("domain") == "B":
            it["labels"] = {}
    assert sum(not it["labels"] for it in items) == 12
    (blank / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    kw = dict(semantic_weight=1.0, semantic_steps=20, semantic_adapt_steps=6, semantic_augment=True,
              semantic_lr=3e-3, semantic_threshold=0.5)
    r = _recipe(cyclegan_cfg(unpaired, tmp_path / "a", 2, **kw))
    out = capsys.readouterr().out
    assert "semantic classifier f self-trained on domain=B for 6 steps" in out
    blind = _recipe(cyclegan_cfg(blank, tmp_path / "b", 2, **kw))
    assert "images of domain=B" not in capsys.readouterr().out  # no labelled B image left to report on
    assert _same(r.semantic.state_dict(), blind.semantic.state_dict())
    again = _recipe(cyclegan_cfg(unpaired, tmp_path / "c", 2, **kw))
    assert _same(r.semantic.state_dict(), again.semantic.state_dict())
    cfg = cyclegan_cfg(unpaired, tmp_path / "d", 2, **kw)
    cfg.train.seed = 1
    other = _recipe(cfg)
    assert not _same(r.semantic.state_dict(), other.semantic.state_dict())


def test_semantic_readers_of_each_domain_read_the_translations_into_it(unpaired, tmp_path, capsys):
    """semantic_target_steps / semantic_source_steps: f_B learns B alone (B's images as f labels them), f_A learns A
    alone (A's labels); both are frozen and checkpointed, and the term becomes
    CE(f_B(G_AB(a)), argmax f(a)) + CE(f_A(G_BA(b)), argmax f(b))."""
    import torch.nn.functional as F

    r = _recipe(cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, semantic_steps=30, semantic_lr=3e-3,
                             semantic_adapt_steps=4, semantic_target_steps=30, semantic_source_steps=20))
    out = capsys.readouterr().out
    assert "semantic classifier f_B (1 LeNet) trained on domain=B's images labelled by f for 30 steps" in out
    assert "semantic classifier f_A (1 LeNet) trained on domain=A's images and their digit labels for 20 steps" in out
    assert "semantic classifier f_B (digit): " in out and "semantic classifier f_A (digit): " in out
    f, f_a, f_b = r.semantic, r.readers["A"], r.readers["B"]
    for reader in (f_a, f_b):
        assert not reader.training and not any(p.requires_grad for p in reader.parameters())
    states = [f.state_dict(), f_a.state_dict(), f_b.state_dict()]
    assert not any(_same(states[i], states[j]) for i, j in ((0, 1), (0, 2), (1, 2)))
    ds = BuiltDataset(unpaired)
    x = torch.from_numpy(np.array(ds.pixels[:4])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    a, b = x[:2], x[2:]
    start = copy.deepcopy(r.nets)  # the step moves G: the term is recomputed with the nets it started from
    logs = r.train_step({"A": a, "B": b}, 0)
    with torch.no_grad():
        fake_b, fake_a = start["G_AB"](a), start["G_BA"](b)
        term = lambda into_b, into_a: float(F.cross_entropy(into_b(fake_b), f(a).argmax(1))  # noqa: E731
                                            + F.cross_entropy(into_a(fake_a), f(b).argmax(1)))
    assert float(logs["semantic"]) == pytest.approx(term(f_b, f_a), rel=1e-4)
    assert term(f_b, f_a) != pytest.approx(term(f, f), rel=1e-3)
    plain = _recipe(cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, semantic_steps=5))
    assert plain.readers["A"] is plain.semantic and plain.readers["B"] is plain.semantic


def test_semantic_reader_ensembles_every_member_must_read_the_class(unpaired, tmp_path):
    """semantic_readers: 2 gives each reader two LeNets of their own seeds; the term averages their cross-entropies."""
    import torch.nn.functional as F

    from t2v.training.recipes.cyclegan import ReaderEnsemble, reading_loss

    r = _recipe(cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, semantic_steps=10, semantic_target_steps=10,
                             semantic_source_steps=10, semantic_readers=2))
    for side in "AB":
        ens = r.readers[side]
        assert isinstance(ens, ReaderEnsemble) and len(ens.members) == 2
        assert not _same(ens.members[0].state_dict(), ens.members[1].state_dict())
    x, y = torch.rand(3, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 1])
    logits = r.readers["A"](x)
    assert logits.shape == (2, 3, 2)
    expected = (F.cross_entropy(logits[0], y) + F.cross_entropy(logits[1], y)) / 2
    assert float(reading_loss(logits, y)) == pytest.approx(float(expected))
    assert float(reading_loss(logits[0], y)) == pytest.approx(float(F.cross_entropy(logits[0], y)))
    with pytest.raises(ConfigError, match="semantic_readers must be >= 1"):
        cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, semantic_readers=0).model.check()


def test_semantic_loss_config_errors(unpaired, tmp_path):
    with pytest.raises(ConfigError, match="model.semantic_label 'place' is not a label of .*digit"):
        _recipe(cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, semantic_label="place"))
    with pytest.raises(ConfigError, match="needs generator.in_channels == out_channels"):
        cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, lambda_identity=0,
                     generator={"ngf": 4, "n_blocks": 1, "out_channels": 1}).model.check()
    with pytest.raises(ConfigError, match="semantic_weight must be >= 0"):
        cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=-1.0).model.check()
    with pytest.raises(ConfigError, match="semantic_source_steps must be >= 0"):
        cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, semantic_threshold=1.5).model.check()
    with pytest.raises(ConfigError, match="classifier reads the 12x12 training images; model.size 12"):
        _recipe(cyclegan_cfg(unpaired, tmp_path, 2, semantic_weight=1.0, crop_size=12))


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def exported(unpaired, tmp_path_factory) -> Path:
    from t2v.training import Trainer

    out = tmp_path_factory.mktemp("cg")
    cfg = cyclegan_cfg(unpaired, out, 2)
    cfg.train.export_dtype = "float16"
    return Trainer(cfg).fit()


def test_pipeline_translates_images_and_clips(exported):
    from t2v.pipelines import load_pipeline
    from t2v.pipelines.translate import ImageTranslationPipeline

    pipe = load_pipeline(exported)
    assert isinstance(pipe, ImageTranslationPipeline) and pipe.domains == {"A": "domain=A", "B": "domain=B"}
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (5, 18, 22, 3), dtype=np.uint8)  # not multiples of 4: padded and cropped back
    out = pipe.translate(clip, "AtoB")
    assert out.shape == clip.shape and out.dtype == np.uint8
    frames = np.stack([pipe.translate(f, "AtoB") for f in clip])
    # a clip is translated frame by frame: batched and one-frame convolutions sum in different orders, so a value
    # on a rounding boundary may land one level apart (seen: 1 of 5,940 values)
    diff = np.abs(frames.astype(int) - out)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert not np.array_equal(pipe.translate(clip, "BtoA"), out)
    with pytest.raises(T2VError, match="direction must be AtoB or BtoA"):
        pipe.translate(clip, "up")
    with pytest.raises(T2VError, match="uint8 RGB"):
        pipe.translate(clip.astype(np.float32), "AtoB")
    assert json.loads((exported / "config.json").read_text())["dtype"] == "float16"


def test_attention_run_exports_a_pipeline_with_masks(unpaired, tmp_path, exported):
    """An attention-guided run trains, previews the masks and exports; the loaded pipeline returns its masks and a
    plain one refuses to."""
    from t2v.data.video import read_image
    from t2v.pipelines import load_pipeline
    from t2v.training import Trainer

    out = Trainer(cyclegan_cfg(unpaired, tmp_path, 2, generator={"ngf": 4, "n_blocks": 1, "attention": True})).fit()
    pipe = load_pipeline(out)
    assert pipe.generators["AtoB"].config.attention
    clip = np.random.default_rng(0).integers(0, 256, (3, 18, 22, 3), dtype=np.uint8)
    images, masks = pipe.translate(clip, "AtoB", return_mask=True)
    assert images.shape == clip.shape and masks.shape == (3, 18, 22) and masks.dtype == np.uint8
    assert np.array_equal(images, pipe.translate(clip, "AtoB"))
    previews = sorted((tmp_path / "samples").glob("*.png"))
    # 8 rows of 16 px (a plain run draws 6): A, fake, mask, back; B, fake, mask, back
    assert previews and read_image(previews[-1]).shape[0] == 8 * 16
    with pytest.raises(T2VError, match="return_mask needs an attention-guided generator"):
        load_pipeline(exported).translate(clip, "AtoB", return_mask=True)
    from t2v.evaluation.translation import translation_strip

    strip = translation_strip(pipe, BuiltDataset(unpaired), "AtoB", "train", tmp_path / "strip.png", by="digit")
    assert strip["rows"] == ["0", "1"] and strip["columns"].endswith("mask (white = generated)")
    assert read_image(tmp_path / "strip.png").shape == (2 * 16, 3 * 16, 3)  # the image, its translation, its mask


def _sample(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "sample.py"), *args], capture_output=True, text=True, cwd=cwd)


def test_sample_input_image_and_video(exported, tmp_path, capsys, monkeypatch, sample_module):
    sample = sample_module
    from t2v.data.video import read_image, read_video, write_png, write_video

    rng = np.random.default_rng(0)
    write_png(tmp_path / "in.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    write_video(tmp_path / "clip.mp4", rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    sample.main(["--checkpoint", str(exported), "--input", "in.png", "--direction", "BtoA", "--out", "o"])
    sample.main(["--checkpoint", str(exported), "--input", "clip.mp4", "--out", "o"])
    assert capsys.readouterr().out.split() == ["o/in_BtoA.png", "o/clip_AtoB.mp4"]
    assert read_image(tmp_path / "o/in_BtoA.png").shape == (16, 16, 3)
    assert read_video(tmp_path / "o/clip_AtoB.mp4").shape == (4, 16, 16, 3)
    with pytest.raises(T2VError, match="image file not found"):
        sample.main(["--checkpoint", str(exported), "--input", "nope.png"])
    r = _sample("--checkpoint", str(exported), "--text", "a cat", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "this checkpoint translates images: give --input" in r.stderr


# --- domains ----------------------------------------------------------------------------------------------------
def test_unpaired_dataset_from_labels_of_video_clips(tiny_video_dataset):
    ds = BuiltDataset(tiny_video_dataset)
    data = UnpairedDataset(ds, "place=grass", "place=snow", split="train")
    n_grass = len(select_items(ds, "place=grass", "train"))
    assert len(data) == n_grass * 8  # every frame of a grass clip is an image of domain A
    item = data[9]
    assert item["A"].shape == (3, 16, 16) and item["A"].min() >= -1 and item["A"].max() <= 1
    a_item = data.a.item(9)
    assert ds.items[a_item]["labels"]["place"] == "grass"
    expect = torch.from_numpy(np.array(ds.pixels[a_item][1])).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(item["A"], expect)  # position 9 = clip 1, frame 1
    assert ds.label_vocab("place")[int(item["label_B"][1])] == "snow"
    # B partners: a function of (seed, epoch, index), new ones every epoch
    assert torch.equal(data[9]["B"], item["B"])
    partners = [data[i]["B"] for i in range(20)]
    data.set_epoch(1)
    assert sum(torch.equal(x, data[i]["B"]) for i, x in enumerate(partners)) < 10


def test_augmentation_and_selector_errors(tiny_video_dataset):
    ds = BuiltDataset(tiny_video_dataset)
    data = UnpairedDataset(ds, "place=grass", "place=snow", load_size=20, crop_size=12, flip=True)
    assert data[0]["A"].shape == (3, 12, 12)
    with pytest.raises(DatasetError, match="crop_size 24 is larger"):
        UnpairedDataset(ds, "place=grass", "place=snow", crop_size=24)
    with pytest.raises(DatasetError, match="no label 'season'"):
        select_items(ds, "season=winter")
    with pytest.raises(DatasetError, match=r"label 'place' has values \['grass', 'snow'\]"):
        select_items(ds, "place=mars")
    with pytest.raises(DatasetError, match="must look like"):
        select_items(ds, "grass")
    with pytest.raises(DatasetError, match="no domain 'A'"):
        select_items(ds, "domain=A")


def test_distractors_take_colours_from_both_domains_and_stay_inside_their_cover():
    red, blue = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    rng = np.random.default_rng(0)
    same, cover = paint_distractors([red, blue], rng, 0.0)
    assert same[0] is red and same[1] is blue and not any(c.any() for c in cover)
    in_b_colour = in_other_colours = 0  # changed pixels of A's image: B's blue / neither blue nor A's red
    for _ in range(40):
        (a, b), (cover_a, cover_b) = paint_distractors([red, blue], rng, 1.0)
        assert a.shape == red.shape and a.dtype == np.uint8 and b.shape == blue.shape
        assert cover_a.shape == (32, 32) and 0 <= cover_a.min() and cover_a.max() <= 1 and cover_b.any()
        changed = (a != red).any(-1)
        assert not changed[cover_a == 0].any()  # nothing changes outside the shapes' coverage
        near = lambda colour: np.abs(a.astype(int) - colour).max(-1) < 30
        in_b_colour += int((changed & near([0, 0, 200])).sum())
        in_other_colours += int((changed & ~near([0, 0, 200]) & ~near([200, 0, 0])).sum())
    assert in_b_colour > 100  # A's shapes wear B's colour too: a shape's colour does not tell its domain
    assert in_other_colours > 100  # and colours of neither (the uniform draws)
    np.testing.assert_array_equal(paint_distractors([red, blue], np.random.default_rng(7), 1.0)[0][0],
                                  paint_distractors([red, blue], np.random.default_rng(7), 1.0)[0][0])


def test_unpaired_dataset_distractors(tiny_video_dataset):
    ds = BuiltDataset(tiny_video_dataset)
    plain = UnpairedDataset(ds, "place=grass", "place=snow", split="train")
    data = UnpairedDataset(ds, "place=grass", "place=snow", split="train", flip=True, distractors=1.0,
                           distractor_count=2)
    assert "keep_A" not in plain[0]
    assert all(torch.equal(data[3][k], data[3][k]) for k in ("A", "keep_A"))  # a function of (seed, epoch, index)
    flips = set()
    for i in range(12):
        item, orig = data[i], plain[i]["A"]
        keep = item["keep_A"]
        assert keep.shape == (1, 16, 16) and keep.max() > 0 and keep.min() >= 0 and keep.max() <= 1
        assert item["B"].shape == (3, 16, 16) and item["keep_B"].max() > 0
        # outside the shapes the image is the frame as stored, flipped or not, and the map flips with it
        out = (keep[0] == 0).expand(3, -1, -1)
        same = [torch.equal(item["A"][out], o[out]) for o in (orig, orig.flip(-1))]
        assert any(same)
        flips.add(same.index(True))
    assert flips == {0, 1}
    for bad in ({"distractors": 1.5}, {"distractors": -0.1}, {"distractor_count": 0}, {"distractor_weight": -1}):
        cfg = build_config({"recipe": "cyclegan", "model": {**TINY, **bad}})
        with pytest.raises(ConfigError, match="distractor"):
            cfg.model.check()


def test_distractors_pass_through_term(unpaired, tmp_path):
    from t2v.training.recipes.cyclegan import passthrough_l1

    out, inp = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    out[0, :, 0, 0], out[1, :, 3, 3] = 1.0, 0.5
    cover = torch.zeros(2, 1, 4, 4)
    assert passthrough_l1(out, inp, cover) == 0  # nothing pasted: no term
    cover[0, :, 0, :2] = cover[1, :, 3, 3] = 1.0
    assert passthrough_l1(out, inp, cover) == pytest.approx(3 * (1.0 + 0.5) / out.numel())  # covered changes only

    torch.manual_seed(0)
    recipe = _recipe(cyclegan_cfg(unpaired, tmp_path, 10, distractors=1.0, distractor_weight=2.0))
    batch = recipe.dataset[0]
    batch = {k: v[None] for k, v in batch.items()}
    with torch.no_grad():
        expect = (passthrough_l1(recipe.nets["G_AB"](batch["A"]), batch["A"], batch["keep_A"])
                  + passthrough_l1(recipe.nets["G_BA"](batch["B"]), batch["B"], batch["keep_B"]))
    logs = recipe.train_step(batch, 0)
    assert float(logs["distractors"]) == pytest.approx(float(expect), rel=1e-5) and expect > 0
    recipe = _recipe(cyclegan_cfg(unpaired, tmp_path, 10, distractors=1.0, distractor_weight=0.0))
    assert "distractors" not in recipe.train_step({k: v[None] for k, v in recipe.dataset[0].items()}, 0)


def test_domain_view_trains_a_one_domain_classifier(unpaired, tmp_path):
    from t2v.evaluation.translation import main

    view = DomainView(BuiltDataset(unpaired), "domain=B")
    assert len(view) == 12 and view.meta["splits"] == {"test": 2, "train": 10}
    assert np.array_equal(view.pixels[np.array([0, 3])], BuiltDataset(unpaired).pixels[[12, 15]])
    main(["train-classifier", "--dataset", str(unpaired), "--select", "domain=B", "--out", str(tmp_path / "clf"),
          "--steps", "3", "--batch-size", "4", "--width", "4"])
    metrics = json.loads((tmp_path / "clf/metrics.json").read_text())
    assert metrics["train_items"] + sum(metrics["heldback_items"].values()) == 12


def test_translation_evaluation_json(exported, unpaired, tmp_path, capsys):
    from t2v.evaluation.translation import main

    main(["train-classifier", "--dataset", str(unpaired), "--select", "domain=B", "--out", str(tmp_path / "clf"),
          "--steps", "2", "--batch-size", "4", "--width", "4"])
    capsys.readouterr()
    main(["evaluate", "--model", str(exported), "--dataset", str(unpaired), "--classifier", str(tmp_path / "clf"),
          "--split", "train", "test", "--out", str(tmp_path / "r.json")])
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((tmp_path / "r.json").read_text())
    assert result["source"] == "domain=A" and result["kept_labels"] == ["digit"]
    test = result["splits"]["test"]
    assert test["items"] == 2 and test["target_real_items"] == 2
    assert set(test["translated"]) == {"kept_digit", "kept_digit_by_value"}
    assert 0 <= test["translated"]["kept_digit"] <= 1
    by_value = test["translated"]["kept_digit_by_value"]
    assert sum(v["items"] for v in by_value.values()) == test["items"]
    assert sum(v["kept"] * v["items"] for v in by_value.values()) == pytest.approx(test["translated"]["kept_digit"] * 2)


def test_translation_evaluation_strip(exported, unpaired, tmp_path, capsys):
    """--strip draws one row per value of the kept label: the source and its translation (a plain generator has no
    mask row)."""
    from t2v.data.video import read_image
    from t2v.evaluation.translation import main

    main(["train-classifier", "--dataset", str(unpaired), "--select", "domain=B", "--out", str(tmp_path / "clf"),
          "--steps", "2", "--batch-size", "4", "--width", "4"])
    capsys.readouterr()
    main(["evaluate", "--model", str(exported), "--dataset", str(unpaired), "--classifier", str(tmp_path / "clf"),
          "--split", "train", "--strip", str(tmp_path / "strip.png")])
    strip = json.loads(capsys.readouterr().out)["strip"]
    assert strip["rows"] == ["0", "1"] and strip["split"] == "train"
    image = read_image(tmp_path / "strip.png")
    assert image.shape == (2 * 16, 2 * 16, 3)  # two items; the image, then its translation
    ds = BuiltDataset(unpaired)
    first = select_items(ds, "domain=A", "train")[0]
    assert np.array_equal(image[:16, :16], ds.pixels[first])
    (tmp_path / "afile").write_text("")
    for flag in ("--strip", "--out"):  # refused before the evaluation, in one line
        with pytest.raises(T2VError, match=f"{flag} .*afile/x/y: cannot create its directory"):
            main(["evaluate", "--model", str(tmp_path / "no-model"), "--dataset", str(unpaired), "--classifier",
                  str(tmp_path / "clf"), flag, str(tmp_path / "afile/x/y")])
