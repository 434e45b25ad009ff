"""Word-level tokenizer built from a dataset's captions and saved next to the model as `tokenizer.json`."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Protocol

import torch

from ..config import TextConfig
from ..errors import CheckpointError, ConfigError, T2VError

TOKENIZER_FILE = "tokenizer.json"
ENCODERS = ("lstm", "bow", "transformer", "pretrained")
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(SPECIALS))
_WORD_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Lower-case `text` and split it into words and single punctuation marks ("don't" stays one word)."""
    return _WORD_RE.findall(text.lower())


class TextProcessor(Protocol):
    """What the encoders and pipelines need from a tokenizer (word-level or Hugging Face)."""

    vocab_size: int
    pad_id: int
    max_length: int

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def unknown_words(self, text: str) -> list[str]: ...

    def save(self, directory: str | Path) -> Path: ...


def pad_batch(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest one: LongTensor ids [B,L] and BoolTensor mask [B,L] (True = token)."""
    length = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = True
    return ids, mask


class WordTokenizer:
    """Lower-cased word vocabulary; ids: PAD=0, UNK=1, BOS=2, EOS=3, then words by frequency (ties: alphabetical)."""

    def __init__(self, words: list[str], max_length: int = 24, min_freq: int = 1) -> None:
        if max_length < 3:
            raise ConfigError(f"text.max_length={max_length} is too small: it counts BOS and EOS, use at least 3")
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.max_length = max_length
        self.min_freq = min_freq
        self.pad_id = PAD_ID

    @classmethod
    def from_captions(cls, captions: Iterable[str], max_length: int = 24, min_freq: int = 1) -> "WordTokenizer":
        """Count words over `captions`; keep those seen at least `min_freq` times."""
        counts = Counter(w for c in captions for w in split_words(c))
        if not counts:
            raise T2VError("cannot build a vocabulary: the dataset has no caption words; check its items.jsonl")
        kept = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        return cls(kept, max_length=max_length, min_freq=min_freq)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """BOS + word ids + EOS, words truncated so the whole fits in `max_length`."""
        words = split_words(text)[: self.max_length - 2]
        return [BOS_ID] + [self.stoi.get(w, UNK_ID) for w in words] + [EOS_ID]

    def decode(self, ids: Iterable[int]) -> str:
        """Words of `ids` joined by spaces; special tokens are dropped, stops at EOS."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
            elif i == UNK_ID:
                out.append(SPECIALS[UNK_ID])
        return " ".join(out)

    def unknown_words(self, text: str) -> list[str]:
        """Words of `text` not in the vocabulary (each once, in order of appearance)."""
        return list(dict.fromkeys(w for w in split_words(text) if w not in self.stoi))

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(texts, str):
            texts = [texts]
        return pad_batch([self.encode(t) for t in texts], PAD_ID)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / TOKENIZER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "type": "word",
            "version": 1,
            "max_length": self.max_length,
            "min_freq": self.min_freq,
            "specials": list(SPECIALS),
            "words": self.itos[len(SPECIALS) :],
        }
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "WordTokenizer":
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise CheckpointError(f"{path} not found: the exported model is incomplete; export or train it again")
        try:
            data = json.loads(path.read_text())
            if data.get("type") != "word" or data.get("specials") != list(SPECIALS):
                raise ValueError
            return cls(list(data["words"]), max_length=int(data["max_length"]), min_freq=int(data["min_freq"]))
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path} is not a t2v word tokenizer file; export or train the model again") from None


def build_text_processor(cfg: TextConfig, captions: Iterable[str]) -> TextProcessor:
    """Word tokenizer from `captions` (lstm, transformer) or the Hugging Face tokenizer of `cfg.pretrained_path`."""
    if cfg.encoder == "pretrained":
        from .pretrained import PretrainedTextProcessor, resolve_pretrained_path

        return PretrainedTextProcessor.load(resolve_pretrained_path(cfg.pretrained_path), cfg.max_length)
    check_encoder_name(cfg.encoder)
    return WordTokenizer.from_captions(captions, max_length=cfg.max_length, min_freq=cfg.min_freq)


def load_text_processor(directory: str | Path, cfg: TextConfig) -> TextProcessor:
    """The processor that `proc.save(directory)` (or `enc.save_assets(directory)`) wrote."""
    if cfg.encoder == "pretrained":
        from .pretrained import PretrainedTextProcessor

        return PretrainedTextProcessor.load(Path(directory), cfg.max_length, missing=CheckpointError)
    check_encoder_name(cfg.encoder)
    return WordTokenizer.load(directory)


def check_encoder_name(name: str) -> None:
    if name not in ENCODERS:
        raise ConfigError(f"text.encoder: unknown {name!r}; choose one of {', '.join(ENCODERS)}")
