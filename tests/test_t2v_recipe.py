"""The T2V recipe's options end to end on CPU: lazy R1, and a word-attention model with the bag-of-words encoder
trained, exported and sampled through the pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from t2v.config import build_config

TINY_MODEL = {"frames": 8, "size": 16, "z_dim": 8, "noise_dim": 4, "gist_channels": 8, "gen_channels": 8,
              "filter_channels": 4, "disc_channels": 8}


def _cfg(data, out, steps=2, text=None, **model):
    return build_config({
        "recipe": "t2v",
        "data": {"path": str(data), "builder": "", "batch_size": 4},
        "model": {**TINY_MODEL, "prior": "text", "r1_gamma": 1.0, **model},
        "text": {"dim": 16, "embed_dim": 16, **(text or {})},
        "train": {"output_dir": str(out), "max_steps": steps, "checkpoint_every": 0, "sample_every": 0,
                  "log_every": 1, "sample_prompts": ["a red ball moving left on snow"]},
    })


def test_r1_every_k_steps_weighted_k_gamma(tiny_video_dataset, tmp_path):
    """Lazy R1: the penalty on steps 0, k, 2k ... only, weighted k x gamma (so its average weight stays gamma)."""
    from t2v.training import Trainer

    def d_loss_at_step0(every: int) -> tuple[float, float]:
        # a large gamma, so that its term stands well above float32 rounding of the rest of the loss
        trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / f"every{every}", r1_every=every, r1_gamma=1000.0))
        batch = next(trainer.batches())
        torch.manual_seed(0)
        logs = trainer.recipe.train_step(batch, 0)
        return float(logs["loss_d"]), float(logs["r1"])

    (plain, r1), (lazy, r1_lazy) = d_loss_at_step0(1), d_loss_at_step0(3)
    assert r1 > 0 and r1_lazy == pytest.approx(r1)
    assert lazy - plain == pytest.approx(2 * 1000.0 * r1, rel=1e-3)  # (3 - 1) x gamma x R1
    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / "steps", r1_every=3))
    batch = next(trainer.batches())
    assert ["r1" in trainer.recipe.train_step(batch, s) for s in range(4)] == [True, False, False, True]


def test_bow_word_attention_model_trains_exports_and_samples(tiny_video_dataset, tmp_path):
    from t2v.pipelines.t2v import TextToVideoPipeline
    from t2v.training import Trainer

    final = Trainer(_cfg(tiny_video_dataset, tmp_path, steps=2, text={"encoder": "bow"}, word_attention=True)).fit()
    pipe = TextToVideoPipeline.from_pretrained(final)
    assert pipe.config.text.encoder == "bow" and pipe.config.model.word_attention
    assert any(k.startswith("video.attend.") for k in pipe.generator.state_dict())
    out = pipe(["a red ball moving left on snow", "green ball on grass"], num_samples=2, seed=0)
    assert out.frames.shape == (4, 8, 16, 16, 3) and out.frames.dtype == np.uint8
    again = pipe(["a red ball moving left on snow"], num_samples=2, seed=0)
    assert np.array_equal(again.frames, out.frames[:2])
    with torch.no_grad():  # the words steer the clip: swapping one word changes it
        other = pipe(["a blue ball moving left on snow"], num_samples=2, seed=0)
    assert not np.array_equal(other.frames, again.frames)


def test_mismatch_hard_draws_one_label_off_captions(tiny_video_dataset, tmp_path):
    """model.mismatch_hard: D's wrong captions come from clips that differ in exactly one label (shared with TFGAN
    through the recipe's dataset); a bad share is a config error named by its key, before any data is read."""
    from t2v.config import build_config
    from t2v.data.format import BuiltDataset
    from t2v.errors import ConfigError
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / "hard", mismatch_hard=1.0))
    ds, data = trainer.recipe.build_dataset(), BuiltDataset(tiny_video_dataset)
    assert ds.hard_negatives == 1.0
    labels: dict[str, list[dict]] = {}  # caption -> labels of the items that have it ("red ball on snow": both directions)
    for i in data.indices("train"):
        for c in data.items[i]["captions"]:
            labels.setdefault(c, []).append(data.items[i]["labels"])
    torch.manual_seed(0)
    for i in range(len(ds)):
        item = ds[i]
        own = data.items[int(item["index"])]["labels"]
        assert item["mismatched_caption"] not in data.items[int(item["index"])]["captions"]
        assert min(sum(own[k] != other[k] for k in own) for other in labels[item["mismatched_caption"]]) == 1
    with pytest.raises(ConfigError, match="model.mismatch_hard is a share"):
        Trainer(_cfg(tmp_path / "missing", tmp_path / "bad", mismatch_hard=1.5))
    for recipe in ("t2v", "tfgan"):
        with pytest.raises(ConfigError, match="model.mismatch_hard is a share"):
            build_config({"recipe": recipe, "model": {"mismatch_hard": -0.1}}).model.check()


def test_aux_labels_train_d_heads_on_real_clips_and_g_towards_the_caption(tiny_video_dataset, tmp_path):
    """model.aux_labels (AC-GAN): D gets one head per label, its cross-entropy on real clips joins D's loss and the
    one on generated clips (targets: the labels of the item whose caption drove them) joins G's."""
    from t2v.errors import ConfigError
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / "aux", aux_labels=["color", "place"], aux_weight=2.0))
    recipe = trainer.recipe
    assert set(recipe.nets["D"].aux) == {"color", "place"} and recipe.nets["D"].aux["color"].out_features == 3
    batch = next(trainer.batches())
    torch.manual_seed(0)
    logs = recipe.train_step(batch, 1)
    for key in ("aux_d", "aux_g", "aux_real_acc", "aux_fake_acc"):
        assert key in logs and torch.isfinite(logs[key])
    assert float(logs["aux_d"]) == pytest.approx(np.log(3) / 2 + np.log(2) / 2, rel=0.3)  # untrained heads ~ chance
    # the aux term is exactly the mean cross-entropy of the heads on the batch's labels
    D, labels = recipe.nets["D"], batch["labels"]
    ids, mask = recipe._text(batch["caption"], torch.device("cpu"))
    with torch.no_grad():
        _, aux = D(batch["pixels"], ids, mask, aux=True)
        cols = recipe.aux_columns
        expect = sum(torch.nn.functional.cross_entropy(aux[n], labels[:, c]) for n, c in zip(aux, cols)) / 2
        loss, _ = recipe._aux_loss(aux, labels)
    assert float(loss) == pytest.approx(float(expect), rel=1e-5)
    final = Trainer(_cfg(tiny_video_dataset, tmp_path / "aux_fit", aux_labels=["place"])).fit()
    assert (final / "model.safetensors").is_file()  # G's export is unchanged by the D-only heads
    with pytest.raises(ConfigError, match="model.aux_labels: action not among the dataset's labels"):
        Trainer(_cfg(tiny_video_dataset, tmp_path / "bad", aux_labels=["action"]))


def test_adc_heads_also_learn_generated_clips(tiny_video_dataset, tmp_path):
    """model.aux_mode=adc: 2K-way heads; D adds their cross-entropy on G's clips against "generated class k"."""
    from t2v.training import Trainer

    trainer = Trainer(_cfg(tiny_video_dataset, tmp_path / "adc", aux_labels=["color", "place"], aux_mode="adc"))
    recipe = trainer.recipe
    assert recipe.aux_adc and recipe._aux_classes() == {"color": 6, "place": 4}
    torch.manual_seed(0)
    logs = recipe.train_step(next(trainer.batches()), 1)
    for key in ("aux_d", "aux_d_gen", "aux_gen_acc", "aux_g", "aux_fake_acc"):
        assert key in logs and torch.isfinite(logs[key])
    assert float(logs["aux_d_gen"]) == pytest.approx(np.log(6) / 2 + np.log(4) / 2, rel=0.3)
