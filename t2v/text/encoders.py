"""Text encoders behind one interface: (ids [B,L], mask [B,L]) -> TextFeatures(sentence [B,D], words [B,L,D]).

Padding is on the right (as the processors produce it); padded positions never change real positions' features.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from einops import rearrange
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..config import TextConfig
from ..errors import ConfigError
from .tokenizer import TextProcessor, check_encoder_name


class TextFeatures(NamedTuple):
    sentence: torch.Tensor  # [B, D]
    words: torch.Tensor  # [B, L, D], zero at padded positions
    mask: torch.Tensor  # [B, L] bool, True = real token


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` [B,L,D] over the positions where `mask` [B,L] is True."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextEncoder(nn.Module):
    """Base class: `dim` is the feature size D; `save_assets(dir)` writes what rebuilding needs besides weights."""

    def __init__(self, dim: int, processor: TextProcessor) -> None:
        super().__init__()
        self.dim = dim
        self.processor = processor

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        raise NotImplementedError

    def save_assets(self, directory: str | Path) -> None:
        """Write the tokenizer files into `directory` (subclasses add their own architecture files)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.processor.save(directory)


def _unshare_flat_weights(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """On CUDA, cuDNN keeps an LSTM's weights as views into one flat buffer. safetensors (and accelerate's
    save_state / load_state through it) treats views of one storage as tied weights: saving kept one of them and
    loading refused the model. The state dict gets tensors of their own instead; loading still copies into the
    flat buffer in place."""
    for key, value in state_dict.items():
        if key.startswith(prefix) and value.untyped_storage().nbytes() != value.numel() * value.element_size():
            state_dict[key] = value.detach().clone()


class LSTMTextEncoder(TextEncoder):
    """Bidirectional LSTM over learned word embeddings, trained with the model.

    words: each position's [forward; backward] state projected to D; sentence: the final forward state (at the
    last real token) and final backward state (at the first token) of the top layer, concatenated and projected
    to D. Sequences are packed, so padding is never read.
    """

    def __init__(self, processor: TextProcessor, dim: int, embed_dim: int, layers: int, dropout: float) -> None:
        super().__init__(dim, processor)
        self.embed = nn.Embedding(processor.vocab_size, embed_dim, padding_idx=processor.pad_id)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            embed_dim,
            embed_dim,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.word_proj = nn.Linear(2 * embed_dim, dim)
        self.sentence_proj = nn.Linear(2 * embed_dim, dim)
        self.lstm.register_state_dict_post_hook(_unshare_flat_weights)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.drop(self.embed(ids)), lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        words = self.word_proj(self.drop(out)) * mask.unsqueeze(-1).to(out.dtype)
        final = rearrange(h, "(layer dir) b h -> layer b (dir h)", dir=2)[-1]
        return TextFeatures(self.sentence_proj(self.drop(final)), words, mask)


class BagOfWordsTextEncoder(TextEncoder):
    """Learned word embeddings read without context: words are the embeddings projected to D, the sentence is their
    masked mean projected to D. Word order is ignored, so a sentence vector is a sum of word parts and a word's
    features are the same in every caption (what word attention needs to reuse them in an unseen combination)."""

    def __init__(self, processor: TextProcessor, dim: int, embed_dim: int, dropout: float) -> None:
        super().__init__(dim, processor)
        self.embed = nn.Embedding(processor.vocab_size, embed_dim, padding_idx=processor.pad_id)
        self.drop = nn.Dropout(dropout)
        self.word_proj = nn.Linear(embed_dim, dim)
        self.sentence_proj = nn.Linear(embed_dim, dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        e = self.drop(self.embed(ids))
        words = self.word_proj(e) * mask.unsqueeze(-1).to(e.dtype)
        return TextFeatures(self.sentence_proj(masked_mean(e, mask)), words, mask)


class TransformerTextEncoder(TextEncoder):
    """BERT encoder (from `transformers`, built from a BertConfig) trained from scratch on our word vocabulary.

    words: last hidden states projected to D; sentence: their masked mean.
    """

    def __init__(
        self,
        processor: TextProcessor,
        dim: int,
        embed_dim: int,
        layers: int,
        heads: int,
        max_length: int,
        dropout: float,
    ) -> None:
        from transformers import BertConfig, BertModel

        super().__init__(dim, processor)
        if embed_dim % heads:
            raise ConfigError(f"text.embed_dim={embed_dim} must be divisible by text.heads={heads}")
        config = BertConfig(
            vocab_size=processor.vocab_size,
            hidden_size=embed_dim,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * embed_dim,
            max_position_embeddings=max_length,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            type_vocab_size=1,
            pad_token_id=processor.pad_id,
        )
        self.bert = BertModel(config, add_pooling_layer=False)
        self.proj = nn.Linear(embed_dim, dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        hidden = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        words = self.proj(hidden) * mask.unsqueeze(-1).to(hidden.dtype)
        return TextFeatures(masked_mean(words, mask), words, mask)


def build_text_encoder(
    cfg: TextConfig, proc: TextProcessor, assets_dir: str | Path | None = None
) -> TextEncoder:
    """The encoder named by `cfg.encoder`, randomly initialised except `pretrained` (weights from its directory).

    With `assets_dir` (written by `save_assets`), `pretrained` is rebuilt from the saved config alone and its
    weights are left for the caller to load; lstm/transformer follow from `cfg` and `proc` either way.
    """
    check_encoder_name(cfg.encoder)
    for key in ("dim", "embed_dim", "layers", "heads", "max_length"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"text.{key}={getattr(cfg, key)} must be a positive integer")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"text.dropout={cfg.dropout} must be in [0, 1)")
    if cfg.encoder == "lstm":
        return LSTMTextEncoder(proc, cfg.dim, cfg.embed_dim, cfg.layers, cfg.dropout)
    if cfg.encoder == "bow":
        return BagOfWordsTextEncoder(proc, cfg.dim, cfg.embed_dim, cfg.dropout)
    if cfg.encoder == "transformer":
        max_length = max(cfg.max_length, proc.max_length)
        return TransformerTextEncoder(proc, cfg.dim, cfg.embed_dim, cfg.layers, cfg.heads, max_length, cfg.dropout)
    from .pretrained import build_pretrained_encoder

    return build_pretrained_encoder(cfg, proc, assets_dir)
