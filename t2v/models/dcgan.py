"""DCGAN (Radford et al. 2016), unconditional or text-conditional as in Reed et al. 2016 (GAN-CLS / GAN-INT).

G: [z; LeakyReLU(W·φ(t))] -> fractionally-strided 4x4 convs (BatchNorm + ReLU) doubling 4x4 up to the image, tanh.
D: strided 4x4 convs (BatchNorm + LeakyReLU(0.2), none on the first) down to 4x4; the conditional D replicates the
projected sentence vector over the 4x4 map, depth-concatenates it, applies a 1x1 conv (BatchNorm + LeakyReLU) and a
4x4 conv to one logit. No pooling, no hidden fully-connected layer. `d_text: projection` conditions D the way of
Miyato & Koyama 2018 instead: logit = conv4x4(h) + <V·LeakyReLU(W·φ(t)), sum over positions of h>. Widths double at
every halving (ngf / ndf at the image side), so size 64 with ngf = ndf = 64 is the reference PyTorch DCGAN example
layer for layer. `g_cond_norm` also lets the projected text set the scale and shift of every G BatchNorm (BigGAN's
conditional BatchNorm), so the caption reaches each resolution and not only the 1x1 input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from einops import rearrange, repeat
from torch import nn

from ..errors import ConfigError
from ..nn import CondNorm2d, conv2d_block, up2d_block
from .base import check_aux_labels, check_lr_decay_start


@dataclass
class DCGANModelConfig:
    size: int = 64  # image height and width: a power of two >= 16 (32 and 64 are the usual ones)
    z_dim: int = 100
    ngf: int = 64  # G channels at the last (image-side) layer; doubled at every halving towards 4x4
    ndf: int = 64  # D channels at the first layer; doubled at every halving
    conditional: bool = True  # text-conditional (Reed et al.) or plain DCGAN
    embed_dim: int = 128  # size the sentence vector is projected to in G and in D (Reed et al.: 128)
    d_text: str = "concat"  # how D uses the text: concat (Reed et al.: tiled, depth-concatenated) | projection
    # G's text also sets the scale and shift of every G BatchNorm (conditional BatchNorm, as BigGAN), not only its
    # input; Reed et al. (false) feed it at the input alone
    g_cond_norm: bool = False
    # objective (recipe side)
    loss: str = "non_saturating"  # any name of the t2v.losses catalogue
    cls: bool = True  # GAN-CLS: real image + mismatched caption is a third, "fake" input of D
    cls_hard_negatives: float = 0.0  # share of GAN-CLS wrong captions from items one label off (same place, other
    # action); Reed et al. draw them at random (0), and a random wrong caption mostly differs in the most visible label
    int_weight: float = 1.0  # GAN-INT: weight of the G term on interpolated captions (0 = off)
    int_beta: float = 0.5  # GAN-INT: interpolate beta * t1 + (1 - beta) * t2
    mode_seeking: float = 0.0  # MSGAN (Mao et al. 2019): weight of G's 1 / (|G(t,z1)-G(t,z2)| / |z1-z2|) term (0 = off)
    # weight of G's caption-contrastive term (0 = off): each generated image, scored by D against the distinct
    # captions of its batch, must score highest with its own (cross-entropy; captions that a training item shares with
    # its own, such as paraphrases, are left out). The text-free part of D's logit is the same for every caption, so
    # with a projection D only the caption term decides
    text_contrastive: float = 0.0
    text_contrastive_start: int = 0  # step from which the term applies (before it G trains without it)
    # the captions each image is scored against: batch (the distinct captions of its batch) | all (every distinct
    # training caption, so each image always meets the captions one label off its own)
    text_contrastive_captions: str = "batch"
    # AC-GAN heads (Odena et al. 2017) on D's text-free trunk: D also classifies these dataset labels of the real
    # image, and G's images must read as their caption's labels to them (needs the conditional model)
    aux_labels: list[str] = field(default_factory=list)
    aux_weight: float = 1.0
    aux_mode: str = "ac"  # ac: heads learn from real items; adc: ADC-GAN, 2K classes, also from G's
    aux_adc_start: int = 0  # adc: step from which D's heads also learn G's items (before: real ones only)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    # fraction of train.max_steps after which both learning rates decay linearly to 0 (as CycleGAN's schedule);
    # 1 keeps them constant, as Radford et al.
    lr_decay_start: float = 1.0
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    adam: str = "fused"  # Adam implementation: fused | foreach | for-loop (see benchmarks/dcgan_speed.py)
    channels_last: bool = True  # NHWC activations (see benchmarks/dcgan_speed.py)

    def check(self) -> None:
        if self.size < 16 or self.size & (self.size - 1):
            raise ConfigError(f"model.size must be a power of two >= 16 (e.g. 32 or 64), got {self.size}")
        for key in ("z_dim", "ngf", "ndf", "embed_dim"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be a positive integer, got {getattr(self, key)}")
        if not 0.0 <= self.int_beta <= 1.0:
            raise ConfigError(f"model.int_beta must be in [0, 1], got {self.int_beta}")
        for key in ("int_weight", "mode_seeking", "text_contrastive"):
            if getattr(self, key) < 0:
                raise ConfigError(f"model.{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.cls_hard_negatives <= 1.0:
            raise ConfigError(f"model.cls_hard_negatives is a share in [0, 1], got {self.cls_hard_negatives}")
        if self.cls_hard_negatives and not (self.cls and self.conditional):
            raise ConfigError("model.cls_hard_negatives needs GAN-CLS (model.cls: true, model.conditional: true)")
        if self.d_text not in ("concat", "projection"):
            raise ConfigError(f"model.d_text must be concat or projection, got {self.d_text!r}")
        if self.text_contrastive_start < 0:
            raise ConfigError(f"model.text_contrastive_start must be >= 0, got {self.text_contrastive_start}")
        if self.text_contrastive_captions not in ("batch", "all"):
            raise ConfigError(f"model.text_contrastive_captions must be batch or all, got "
                              f"{self.text_contrastive_captions!r}")
        if self.text_contrastive and not self.conditional:
            raise ConfigError("model.text_contrastive needs the text-conditional model (model.conditional: true)")
        check_lr_decay_start(self.lr_decay_start)
        if self.adam not in ("fused", "foreach", "for-loop"):
            raise ConfigError(f"model.adam must be fused, foreach or for-loop, got {self.adam!r}")
        check_aux_labels(self.aux_labels, self.aux_weight, self.aux_mode, self.aux_adc_start)
        if self.g_cond_norm and not self.conditional:
            raise ConfigError("model.g_cond_norm needs the text-conditional model (model.conditional: true)")
        if self.aux_labels and not self.conditional:
            raise ConfigError("model.aux_labels needs the text-conditional model (model.conditional: true): an "
                              "unconditional G cannot be asked for a label")


def dcgan_init(*modules: nn.Module | None) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0 (None is skipped)."""
    for m in (m for module in modules if module is not None for m in module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _widths(base: int, size: int) -> list[int]:
    """Channels at the resolutions size/2, size/4, ..., 4: base, 2*base, ..., base * 2^(n-1)."""
    return [base * 2**i for i in range(int(math.log2(size)) - 2)]


class _TextConditioned(nn.Module):
    """Owns the text encoder and the projection φ(t) -> LeakyReLU(W·φ(t)) of G or D (None when unconditional)."""

    def __init__(self, cfg: DCGANModelConfig, text_encoder: nn.Module | None):
        super().__init__()
        cfg.check()
        if cfg.conditional and text_encoder is None:
            raise ConfigError("model.conditional=true needs a text encoder")
        self.cfg = cfg
        self.text_encoder = text_encoder if cfg.conditional else None
        self.text_proj = (
            nn.Sequential(nn.Linear(text_encoder.dim, cfg.embed_dim), nn.LeakyReLU(0.2, inplace=True))
            if self.text_encoder is not None else None
        )

    def condition(self, ids: torch.Tensor, mask: torch.Tensor, beta: float | None) -> torch.Tensor:
        """Projected sentence vectors [B, embed_dim]; with `beta`, GAN-INT: beta * t_i + (1 - beta) * t_(i-1)."""
        if ids is None or mask is None:
            raise ValueError("a conditional DCGAN needs caption ids and mask")
        sentence = self.text_encoder(ids, mask).sentence
        if beta is not None:
            sentence = torch.lerp(sentence.roll(1, 0), sentence, beta)
        return self.text_proj(sentence)


class DCGANGenerator(_TextConditioned):
    """(z [B, z_dim], caption ids/mask) -> image [B, 3, size, size] in [-1, 1]."""

    def __init__(self, cfg: DCGANModelConfig, text_encoder: nn.Module | None = None):
        super().__init__(cfg, text_encoder)
        widths = _widths(cfg.ngf, cfg.size)[::-1]
        cin = cfg.z_dim + (cfg.embed_dim if self.text_encoder is not None else 0)
        if cfg.g_cond_norm:  # the same layers, each BatchNorm's scale and shift set by the projected text
            self.stem = nn.ConvTranspose2d(cin, widths[0], 4, 1, 0, bias=False)
            self.norms = nn.ModuleList([CondNorm2d("batch", w, cfg.embed_dim) for w in widths])
            self.ups = nn.ModuleList([nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(widths, widths[1:])])
            self.to_rgb = nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False)
            self.net = None
            dcgan_init(self.stem, self.ups, self.to_rgb)
            return
        self.net = nn.Sequential(
            nn.ConvTranspose2d(cin, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            *[up2d_block(a, b) for a, b in zip(widths, widths[1:])],
            nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )
        dcgan_init(self.net)

    def latent_shapes(self) -> dict[str, tuple[int, ...]]:
        """Random inputs of one sample."""
        return {"z": (self.cfg.z_dim,)}

    def forward(
        self, z: torch.Tensor, ids: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        beta: float | None = None,
    ) -> torch.Tensor:
        text = self.condition(ids, mask, beta) if self.text_encoder is not None else None
        if text is not None:
            z = torch.cat([z, text], 1)
        z = rearrange(z, "b c -> b c 1 1")
        if self.net is not None:
            return self.net(z)
        h = self.stem(z)
        for norm, up in zip(self.norms, [*self.ups, self.to_rgb]):  # norm + ReLU, then the next up-conv
            h = up(torch.relu(norm(h, text)))
        return torch.tanh(h)


class DCGANDiscriminator(_TextConditioned):
    """(image [B, 3, size, size], caption ids/mask) -> logits [B] (real and, if conditional, matching the caption).

    Given k*B captions for B images, each image is scored against the captions i, B + i, ..., (k-1)B + i (the
    convolutional trunk runs once): GAN-CLS scores a real batch against its right and its wrong captions this way.
    With `aux_classes` ({label: number of values}) it also classifies those labels from the trunk's 4x4 features
    averaged over positions, before any text enters (AC-GAN heads; `forward(..., aux=True)`).
    """

    def __init__(self, cfg: DCGANModelConfig, text_encoder: nn.Module | None = None,
                 aux_classes: dict[str, int] | None = None):
        super().__init__(cfg, text_encoder)
        widths = _widths(cfg.ndf, cfg.size)
        self.features = nn.Sequential(
            nn.Conv2d(3, widths[0], 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            *[conv2d_block(a, b) for a, b in zip(widths, widths[1:])],
        )
        top = widths[-1]
        concat = self.text_encoder is not None and cfg.d_text == "concat"
        self.fuse = (
            nn.Sequential(
                nn.Conv2d(top + cfg.embed_dim, top, 1, bias=False), nn.BatchNorm2d(top), nn.LeakyReLU(0.2, inplace=True)
            )
            if concat else None
        )
        # projection: the projected sentence vector mapped to one weight per trunk channel (V of Miyato & Koyama)
        self.project = nn.Linear(cfg.embed_dim, top, bias=False) \
            if self.text_encoder is not None and not concat else None
        self.out = nn.Conv2d(top, 1, 4, 1, 0, bias=False)
        self.aux = nn.ModuleDict({name: nn.Linear(top, k) for name, k in (aux_classes or {}).items()})
        dcgan_init(self.features, self.fuse, self.out)
        if self.project is not None:
            nn.init.normal_(self.project.weight, 0.0, 0.02)

    def forward(
        self, x: torch.Tensor, ids: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        beta: float | None = None, aux: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The logits; with `aux`, (the logits, {label: class logits [B, K]} of the B images)."""
        h = self.features(x)
        logits = self._logits(h, ids, mask, beta)
        if not aux:
            return logits
        pooled = h.mean((2, 3))
        return logits, {name: head(pooled) for name, head in self.aux.items()}

    def text_score(self, x: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The caption's term of a projection discriminator's logit, <phi(x), V t> [B]: how well each image fits its
        caption, without the text-free term, which scores how real the image looks and so also how familiar its
        combination of content is (a combination never seen as real scores low there however well it is drawn)."""
        if self.project is None:
            raise ValueError("text_score needs a text-conditional projection discriminator (model.d_text: projection)")
        return self._text_term(self.features(x), self.condition(ids, mask, None))

    def _text_term(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        k = len(cond) // len(h)
        return (h.sum((2, 3)).repeat(k, 1) * self.project(cond)).sum(1)

    def _logits(self, h: torch.Tensor, ids: torch.Tensor | None, mask: torch.Tensor | None,
                beta: float | None) -> torch.Tensor:
        if self.text_encoder is None:
            return self.out(h).flatten()
        cond = self.condition(ids, mask, beta)
        k, rest = divmod(len(cond), len(h))
        if rest or not k:
            raise ValueError(f"{len(cond)} captions for {len(h)} images: need a whole multiple")
        if self.project is not None:  # the trunk's unconditional logit plus the caption's inner product with it
            return self.out(h).flatten().repeat(k) + self._text_term(h, cond)
        tiled = repeat(cond, "b c -> b c h w", h=h.shape[2], w=h.shape[3])
        h = torch.cat([h if k == 1 else h.repeat(k, 1, 1, 1), tiled], 1)
        return self.out(self.fuse(h)).flatten()
