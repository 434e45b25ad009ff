"""Attribute classifier: a small strided conv net with one head per dataset label, used to judge generators.

Video clips go through 3-D convs (stride 2 in H, W each stage; in T until ~4 frames are left) plus 2-D convs on a
few of their frames, images through 2-D convs, down to ~4x4; then global average + max pooling and one linear head
per label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..data.loader import normalize_pixels
from ..errors import CheckpointError, T2VError
from ..models.base import ModelMixin


@dataclass
class ClassifierConfig:
    kind: str = "video"  # video | image
    frames: int = 16  # input frames (video)
    size: list[int] = field(default_factory=lambda: [64, 64])  # input H, W
    labels: dict[str, list[str]] = field(default_factory=dict)  # label name -> vocabulary (order = class ids)
    width: int = 16  # channels of the first stage; doubled twice
    appearance_frames: int = 4  # video: evenly spaced frames also seen by a per-frame 2-D path (0 = none)
    dropout: float = 0.1


def _plan(cfg: ClassifierConfig, temporal: bool) -> list[tuple[int, int]]:
    """(out_channels, time_stride) per stage: halve H, W until ~4x4; halve T until ~4 frames (not at the stem)."""
    stages = max(1, round(math.log2(min(cfg.size) / 4)))
    halvings = max(0, int(math.log2(max(cfg.frames, 1) / 4))) if temporal else 0
    halvings = min(halvings, stages - 1)
    return [(cfg.width * 2 ** min(i, 2), 2 if 1 <= i <= halvings else 1) for i in range(stages)]


def _conv_stack(video: bool, plan: list[tuple[int, int]]) -> tuple[nn.Sequential, int]:
    """Strided conv-BN-ReLU stages following `plan`, then one conv at the final resolution; returns (net, channels)."""
    conv, norm = (nn.Conv3d, nn.BatchNorm3d) if video else (nn.Conv2d, nn.BatchNorm2d)
    layers: list[nn.Module] = []
    cin = 3
    for cout, ts in plan:
        layers += [conv(cin, cout, 3, (ts, 2, 2) if video else 2, 1, bias=False), norm(cout), nn.ReLU(inplace=True)]
        cin = cout
    layers += [conv(cin, cin, 3, 1, 1, bias=False), norm(cin), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers), cin


def _pool(f: torch.Tensor) -> torch.Tensor:
    """[B, C, ...] -> [B, 2C]: global average and max."""
    f = f.flatten(2)
    return torch.cat([f.mean(-1), f.amax(-1)], dim=1)


class AttributeClassifier(ModelMixin, nn.Module):
    """Predict every label of a built dataset from a clip [B, 3, T, H, W] (or image [B, 3, H, W]) in [-1, 1].

    Videos go through two paths: 3-D convs over the whole clip (motion) and 2-D convs on a few of its frames
    (appearance: a 3-D net alone learns the shape of a moving object slowly, since motion smears it across frames).
    """

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        if config.kind not in ("video", "image"):
            raise T2VError(f"classifier kind must be 'video' or 'image', got {config.kind!r}")
        if not config.labels:
            raise T2VError("classifier needs at least one label with a vocabulary")
        self.config = config
        video = config.kind == "video"
        self.memory_format = torch.channels_last_3d if video else torch.channels_last  # faster convs on CPU
        self.features, dim = _conv_stack(video, _plan(config, temporal=video))
        self.features.to(memory_format=self.memory_format)
        self.appearance: nn.Sequential | None = None
        if video and config.appearance_frames > 0:
            self.appearance, extra = _conv_stack(False, _plan(config, temporal=False))
            self.appearance.to(memory_format=torch.channels_last)
            dim += extra
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(2 * dim, len(vocab)) for name, vocab in config.labels.items()})

    @property
    def label_names(self) -> list[str]:
        return list(self.config.labels)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample uint8 shape the classifier was built for: (T, H, W, 3) or (H, W, 3)."""
        h, w = self.config.size
        return (self.config.frames, h, w, 3) if self.config.kind == "video" else (h, w, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per label name."""
        pooled = [_pool(self.features(x))]
        if self.appearance is not None:
            t = x.shape[2]
            pick = torch.linspace(0, t - 1, min(self.config.appearance_frames, t)).round().long().to(x.device)
            frames = rearrange(x.index_select(2, pick), "b c t h w -> (b t) c h w")
            f = self.appearance(frames.contiguous(memory_format=torch.channels_last))
            pooled.append(_pool(rearrange(f, "(b t) c h w -> b c t h w", b=len(x))))
        features = self.dropout(torch.cat(pooled, dim=1))
        return {name: head(features) for name, head in self.heads.items()}

    def prepare(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 [N, T, H, W, 3] (or [N, H, W, 3]) -> float [N, 3, T, H, W] in [-1, 1], resized to the input size."""
        x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames))  # copy: memmaps are read-only
        if x.dtype != torch.uint8:
            raise T2VError(f"the classifier takes uint8 pixels (0-255), got {x.dtype}")
        video = self.config.kind == "video"
        if x.dim() != (5 if video else 4) or x.shape[-1] != 3:
            want = "[N, T, H, W, 3] video clips" if video else "[N, H, W, 3] images"
            raise T2VError(f"this classifier judges {want}, got an array of shape {tuple(x.shape)}")
        device = next(self.parameters()).device
        x = normalize_pixels(x.to(device))
        x = rearrange(x, "n t h w c -> n c t h w") if video else rearrange(x, "n h w c -> n c h w")
        target = (self.config.frames, *self.config.size) if video else tuple(self.config.size)
        if tuple(x.shape[2:]) != target:
            x = F.interpolate(x, size=target, mode="trilinear" if video else "bilinear", align_corners=False)
        return x.contiguous(memory_format=self.memory_format)


def load_classifier(directory: str | Path, device: str | torch.device = "cpu") -> AttributeClassifier:
    """Load a classifier saved by `train-classifier` (config.json + model.safetensors), in eval mode."""
    d = Path(directory)
    if not (d / "config.json").is_file():
        raise CheckpointError(
            f"no attribute classifier in {str(d)!r} (config.json missing); train one with "
            f"`python -m t2v.evaluation train-classifier --dataset DATA --out {d}`"
        )
    return AttributeClassifier.from_pretrained(d).to(device).eval()


@torch.no_grad()
def classify(classifier: AttributeClassifier, frames: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Predicted class ids (int64 [N], indices into the label's vocabulary) per label for uint8 clips or images."""
    was_training = classifier.training
    classifier.eval()
    preds: dict[str, list[np.ndarray]] = {name: [] for name in classifier.label_names}
    for start in range(0, len(frames), batch_size):
        logits = classifier(classifier.prepare(frames[start : start + batch_size]))
        for name, lg in logits.items():
            preds[name].append(lg.argmax(-1).cpu().numpy())
    classifier.train(was_training)
    return {name: np.concatenate(p) if p else np.zeros(0, np.int64) for name, p in preds.items()}
