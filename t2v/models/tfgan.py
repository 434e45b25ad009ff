"""TFGAN (Balaji, Min, Bai, Chellappa, Graf, IJCAI 2019): text-filter conditioned frame and video discriminators
and a content-code + GRU-motion-code generator with a per-frame residual decoder.

The caption enters each discriminator as convolution kernels generated from its text vector (Text2Filter), applied
at two intermediate scales of the trunk after a 1x1 reduction; every branch is pooled to a vector and, with the
trunk's final features and the text vector, feeds one logit. `disc_fusion="concat"` swaps the generated kernels for
fixed kernels over [features, tiled text vector]: the concatenation-conditioned baseline of the paper's ablation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from ..nn import CondNorm2d, Text2Filter, conv2d_block, conv3d_block, norm2d
from ..text import TextFeatures
from .base import check_aux_labels


@dataclass
class TFGANModelConfig:
    frames: int = 16
    size: int = 64
    cond_dim: int = 64  # size of the "content" and "motion" text vectors
    content_dim: int = 32  # content code z_c, shared by all frames of a clip
    motion_dim: int = 16  # per-frame noise e_t and GRU motion code h_t
    gen_channels: int = 16  # decoder width at size/2; doubled per halving of the resolution, up to 8x
    # normalisation before each activation of the decoder: none (the default, and every model exported before it
    # existed), group (GroupNorm, per frame: no batch statistics, so the EMA and sampling need nothing more) or
    # pixel (ProGAN's pixelwise feature vector normalisation, no parameters)
    gen_norm: str = "none"
    # with gen_norm group or pixel: each norm's scale and shift are linear maps of the frame's code [z_c, content
    # vector, h_t] (BigGAN's conditional norm): the caption reaches every resolution of the decoder, not only the
    # 4x4 input, so the 16x16 and 32x32 layers that draw edges and corners are told the shape
    gen_cond_norm: bool = False
    # the decoder's last step to full size: convt (a 4x4 stride-2 transposed conv, as the authors; its uneven
    # kernel overlap leaves a checkerboard on large objects) or upconv (nearest x2, then a 3x3 conv: no
    # checkerboard, Odena et al. 2016)
    gen_to_rgb: str = "convt"
    disc_channels: int = 16  # frame D first stage; doubled per stage
    video_disc_channels: int = 16  # video D first stage; doubled per stage
    filter_channels: int = 16  # 1x1 reduction before each text-filter branch (and the branch's output channels)
    filter_size: int = 5  # spatial kernel size of the text filters (3 x k x k in the video D)
    # trunk stages whose outputs feed the text branches (stage i's maps are size / 2**(i+1)): 1, 2 = size/4, size/8
    filter_stages: list[int] = field(default_factory=lambda: [1, 2])
    disc_fusion: str = "filter"  # filter | concat: how the branches of both discriminators take the text
    frame_samples: int = 0  # frames per clip the frame D judges (0 = every frame, as the paper)
    # objective and optimisation (recipe side)
    loss: str = "non_saturating"
    r1_gamma: float = 10.0  # R1 penalty on real clips (both discriminators)
    r1_every: int = 1  # lazy R1 (Karras et al. 2020): every k-th D step, weighted γ·k (1 = every step, as the paper)
    mismatch_weight: float = 0.5  # fake+matched and real+mismatched share the D "fake" term
    mismatch_hard: float = 0.0  # share of mismatched captions from clips one label off (e.g. only the shape differs)
    aux_labels: list[str] = field(default_factory=list)  # AC-GAN heads on the text-free trunks of both Ds
    aux_weight: float = 1.0
    aux_mode: str = "ac"  # ac: heads learn from real items; adc: ADC-GAN, 2K classes, also from G's
    aux_adc_start: int = 0  # adc: step from which D's heads also learn G's items (before: real ones only)
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.0, 0.99])
    n_critic: int = 1

    def check(self) -> None:
        from ..errors import ConfigError

        if self.size < 16 or self.size & (self.size - 1):
            raise ConfigError(f"model.size must be a power of two >= 16, got {self.size}")
        if self.frames < 4:
            raise ConfigError(f"model.frames must be at least 4, got {self.frames}")
        if self.gen_norm not in GEN_NORMS:
            raise ConfigError(f"model.gen_norm must be one of {', '.join(GEN_NORMS)}, got {self.gen_norm!r}")
        if self.gen_to_rgb not in ("convt", "upconv"):
            raise ConfigError(f"model.gen_to_rgb must be convt or upconv, got {self.gen_to_rgb!r}")
        if self.gen_cond_norm and self.gen_norm == "none":
            raise ConfigError("model.gen_cond_norm needs a norm to modulate: set model.gen_norm to group or pixel")
        if self.disc_fusion not in ("concat", "filter"):
            raise ConfigError(f"model.disc_fusion must be concat or filter, got {self.disc_fusion!r}")
        if not 0 <= self.frame_samples <= self.frames:
            raise ConfigError(f"model.frame_samples must be in [0, frames={self.frames}], got {self.frame_samples}")
        if self.filter_size < 1 or self.filter_size % 2 == 0:
            raise ConfigError(f"model.filter_size must be odd, got {self.filter_size}")
        if not self.filter_stages or sorted(set(self.filter_stages)) != list(self.filter_stages) or not set(
                self.filter_stages) <= {0, 1, 2}:
            raise ConfigError("model.filter_stages must be distinct trunk stages in increasing order, each of 0, 1, 2 "
                              f"(the last stage, 3, is the trunk's output), got {self.filter_stages}")
        if self.r1_every < 1:
            raise ConfigError(f"model.r1_every must be >= 1, got {self.r1_every}")
        if not 0.0 <= self.mismatch_hard <= 1.0:
            raise ConfigError(f"model.mismatch_hard is a share in [0, 1], got {self.mismatch_hard}")
        if len(self.betas) != 2:
            raise ConfigError(f"model.betas must be two numbers, got {self.betas}")
        check_aux_labels(self.aux_labels, self.aux_weight, self.aux_mode, self.aux_adc_start)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of `x` [B, C, L] over the positions where `mask` [B, L] is True."""
    return x.masked_fill(~mask.unsqueeze(1), float("-inf")).amax(-1)


class TextVectors(nn.Module):
    """A text encoder plus the "content" and "motion" branches: a 1-D CNN over the word features each (as the
    authors), max-pooled over the words and joined with the sentence vector."""

    def __init__(self, text_encoder: nn.Module, cond_dim: int):
        super().__init__()
        self.text_encoder = text_encoder
        d = text_encoder.dim
        self.convs = nn.ModuleList([nn.Conv1d(d, cond_dim, 3, padding=1) for _ in range(2)])
        self.outs = nn.ModuleList([nn.Linear(cond_dim + d, cond_dim) for _ in range(2)])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats: TextFeatures = self.text_encoder(ids, mask)
        words = rearrange(feats.words, "b l d -> b d l")
        content, motion = (
            out(torch.cat([masked_max(F.leaky_relu(conv(words), 0.2), feats.mask), feats.sentence], 1))
            for conv, out in zip(self.convs, self.outs)
        )
        return content, motion


GEN_NORMS = ("none", "group", "pixel")


def _gen_norm(kind: str, channels: int, code_dim: int) -> nn.Module:
    return CondNorm2d(kind, channels, code_dim) if code_dim else norm2d(kind, channels)


def _apply(norm: nn.Module, x: torch.Tensor, code: torch.Tensor | None) -> torch.Tensor:
    return norm(x, code) if isinstance(norm, CondNorm2d) else norm(x)


class ResUp(nn.Module):
    """Residual up-sampling block: nearest x2, two 3x3 convs on the main path (each after [norm,] LeakyReLU), a 1x1
    conv on the shortcut. With `code_dim`, the norms are conditional (`CondNorm2d`) and `forward` takes the code."""

    def __init__(self, cin: int, cout: int, norm: str = "none", code_dim: int = 0):
        super().__init__()
        self.norm1, self.norm2 = _gen_norm(norm, cin, code_dim), _gen_norm(norm, cout, code_dim)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv1(F.leaky_relu(_apply(self.norm1, x, code), 0.2))
        h = self.conv2(F.leaky_relu(_apply(self.norm2, h, code), 0.2))
        return self.skip(x) + h


class FrameDecoder(nn.Module):
    """[z_c, content vector, h_t] -> one frame: a linear map to 4x4, residual up-sampling blocks to size/2, a last
    fractionally-strided conv (or nearest x2 + 3x3 conv, `gen_to_rgb: upconv`) to size; tanh. With
    `gen_cond_norm` the code also sets every norm's scale and shift.
    Channels-last activations (about 2x faster convs on CPU)."""

    def __init__(self, cfg: TFGANModelConfig):
        super().__init__()
        levels = int(math.log2(cfg.size // 4))  # 4 -> size/2 takes levels - 1 blocks
        widths = [cfg.gen_channels * 2 ** min(3, levels - 1 - i) for i in range(levels)]
        code_dim = cfg.content_dim + cfg.cond_dim + cfg.motion_dim
        cond = code_dim if cfg.gen_cond_norm else 0
        self.fc = nn.Linear(code_dim, widths[0] * 16)
        self.blocks = nn.Sequential(*[ResUp(a, b, cfg.gen_norm, cond) for a, b in zip(widths, widths[1:])])
        self.norm = _gen_norm(cfg.gen_norm, widths[-1], cond)
        if cfg.gen_to_rgb == "upconv":
            self.to_rgb = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"),
                                        nn.Conv2d(widths[-1], 3, 3, padding=1))
        else:
            self.to_rgb = nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        h = rearrange(self.fc(code), "n (c h w) -> n c h w", h=4, w=4).contiguous(memory_format=torch.channels_last)
        for block in self.blocks:  # a Sequential for its state-dict keys; each block also takes the code
            h = block(h, code)
        return torch.tanh(self.to_rgb(F.leaky_relu(_apply(self.norm, h, code), 0.2)))


class TFGANGenerator(nn.Module):
    """Text -> (content, motion) vectors; content code z_c for the clip; a GRU over [e_t, motion vector] gives one
    motion code h_t per frame; each frame is decoded from [z_c, content vector, h_t]."""

    def __init__(self, cfg: TFGANModelConfig, text_encoder: nn.Module):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.text = TextVectors(text_encoder, cfg.cond_dim)
        self.h0 = nn.Linear(cfg.content_dim + cfg.cond_dim, cfg.motion_dim)
        self.gru = nn.GRUCell(cfg.motion_dim + cfg.cond_dim, cfg.motion_dim)
        self.decoder = FrameDecoder(cfg)

    @property
    def text_encoder(self) -> nn.Module:
        return self.text.text_encoder

    def latent_shapes(self) -> dict[str, tuple[int, ...]]:
        """The random inputs of one clip: the content code and one motion noise vector per frame."""
        return {"content": (self.cfg.content_dim,), "motion": (self.cfg.frames, self.cfg.motion_dim)}

    def motion_codes(self, z: torch.Tensor, motion: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """[B, T, motion_dim]: h_t = GRU([e_t, motion vector], h_{t-1}), h_0 from [z_c, motion vector]."""
        h = torch.tanh(self.h0(torch.cat([z, motion], 1)))
        codes = []
        for t in range(noise.shape[1]):
            h = self.gru(torch.cat([noise[:, t], motion], 1), h)
            codes.append(h)
        return torch.stack(codes, 1)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, content: torch.Tensor | None = None,
        motion: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Clips [B, 3, T, H, W] in [-1, 1]; content [B, content_dim] and motion [B, T, motion_dim] are drawn
        from N(0, I) when not given."""
        c, m = self.text(ids, mask)
        b, cfg = c.shape[0], self.cfg
        z = torch.randn(b, cfg.content_dim, device=c.device) if content is None else content
        noise = torch.randn(b, cfg.frames, cfg.motion_dim, device=c.device) if motion is None else motion
        h = self.motion_codes(z, m, noise)
        code = torch.cat([repeat(z, "b d -> b t d", t=cfg.frames), repeat(c, "b d -> b t d", t=cfg.frames), h], 2)
        frames = self.decoder(rearrange(code, "b t d -> (b t) d"))
        return {"video": rearrange(frames, "(b t) c h w -> b c t h w", b=b)}


class TextBranch(nn.Module):
    """1x1 reduction of a feature map [B, C, T, H, W], then the text enters: `filter` convolves with kernels
    generated from the text vector (2-D kernels are (1, k, k)), `concat` convolves [features, tiled text] with
    fixed kernels of the same size. LeakyReLU, then mean over H, W (and T when `pool_time`)."""

    def __init__(self, cin: int, cond_dim: int, channels: int, kernel: tuple[int, int, int], fusion: str,
                 pool_time: bool):
        super().__init__()
        self.reduce = nn.Conv3d(cin, channels, 1)
        self.fusion, self.pool_dims = fusion, (2, 3, 4) if pool_time else (3, 4)
        if fusion == "filter":
            self.filter = Text2Filter(cond_dim, channels, channels, kernel)
        else:
            self.tile = nn.Linear(cond_dim, channels)
            self.conv = nn.Conv3d(2 * channels, channels, kernel, padding=[k // 2 for k in kernel])

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        if self.fusion == "filter":
            h = self.filter(x, text)
        else:
            t = repeat(self.tile(text), "b c -> b c t h w", t=x.shape[2], h=x.shape[3], w=x.shape[4])
            h = self.conv(torch.cat([x, t], 1))
        return F.leaky_relu(h, 0.2).mean(self.pool_dims)


class Head(nn.Module):
    """[trunk features, text vector, branch vectors] -> one logit (a hidden layer, so text and video interact)."""

    def __init__(self, trunk_dim: int, cond_dim: int, branch_dim: int, hidden: int):
        super().__init__()
        self.text = nn.Linear(cond_dim, cond_dim)
        self.net = nn.Sequential(
            nn.Linear(trunk_dim + cond_dim + branch_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def forward(self, trunk: torch.Tensor, text: torch.Tensor, branches: list[torch.Tensor]) -> torch.Tensor:
        return self.net(torch.cat([trunk, F.leaky_relu(self.text(text), 0.2), *branches], -1)).squeeze(-1)


def _widths(base: int) -> list[int]:
    return [base * 2**i for i in range(4)]


class FrameDiscriminator(nn.Module):
    """Per-frame 2-D trunk (4 strided conv stages to size/16, no normalisation, LeakyReLU); text filters (k x k)
    on the maps of `filter_stages` (default size/4 and size/8); logits per frame [B, T]. The trunk does not see
    the text, so one trunk pass serves several captions (`features` then `score`)."""

    def __init__(self, cfg: TFGANModelConfig):
        super().__init__()
        w = _widths(cfg.disc_channels)
        self.stages = nn.ModuleList([conv2d_block(a, b, norm=False) for a, b in zip([3, *w], w)])
        k, r = cfg.filter_size, cfg.filter_channels
        self.taps = list(cfg.filter_stages)
        self.branches = nn.ModuleList(
            [TextBranch(w[i], cfg.cond_dim, r, (1, k, k), cfg.disc_fusion, pool_time=False) for i in self.taps]
        )
        self.trunk_dim = w[3] * (cfg.size // 16) ** 2  # final features per frame
        self.head = Head(self.trunk_dim, cfg.cond_dim, len(self.taps) * r, w[3])

    def features(self, video: torch.Tensor) -> list[torch.Tensor]:
        """[B, 3, T, H, W] -> the branch inputs [B, C, T, h, w] and the final features [B, T, F]."""
        b = video.shape[0]
        h, taps = rearrange(video, "b c t h w -> (b t) c h w").contiguous(memory_format=torch.channels_last), []
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i in self.taps:
                taps.append(rearrange(h, "(b t) c h w -> b c t h w", b=b))
        return [*taps, rearrange(h, "(b t) c h w -> b t (c h w)", b=b)]

    def score(self, feats: list[torch.Tensor], text: torch.Tensor) -> torch.Tensor:
        *taps, final = feats
        branches = [rearrange(br(x, text), "b c t -> b t c") for br, x in zip(self.branches, taps)]
        return self.head(final, repeat(text, "b d -> b t d", t=final.shape[1]), branches)


class VideoDiscriminator(nn.Module):
    """3-D trunk over the clip (4 strided conv stages, T halved each stage down to 1, no normalisation, LeakyReLU);
    text filters (3 x k x k) on the maps of `filter_stages` (default size/4 and size/8); one logit per clip [B]."""

    def __init__(self, cfg: TFGANModelConfig):
        super().__init__()
        w = _widths(cfg.video_disc_channels)
        t, stages = cfg.frames, []
        for a, b in zip([3, *w], w):
            stages.append(conv3d_block(a, b, time_stride=2 if t > 1 else 1))
            t = (t - 2) // 2 + 1 if t > 1 else t
        self.stages = nn.ModuleList(stages)
        k, r = cfg.filter_size, cfg.filter_channels
        self.taps = list(cfg.filter_stages)
        self.branches = nn.ModuleList(
            [TextBranch(w[i], cfg.cond_dim, r, (3, k, k), cfg.disc_fusion, pool_time=True) for i in self.taps]
        )
        self.trunk_dim = w[3] * t * (cfg.size // 16) ** 2  # final features per clip
        self.head = Head(self.trunk_dim, cfg.cond_dim, len(self.taps) * r, w[3])

    def features(self, video: torch.Tensor) -> list[torch.Tensor]:
        h, taps = video, []
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i in self.taps:
                taps.append(h)
        return [*taps, rearrange(h, "b c t h w -> b (c t h w)")]

    def score(self, feats: list[torch.Tensor], text: torch.Tensor) -> torch.Tensor:
        *taps, final = feats
        return self.head(final, text, [br(x, text) for br, x in zip(self.branches, taps)])


class TFGANDiscriminator(nn.Module):
    """Both discriminators with their own text encoder: the frame D is conditioned on the content vector, the
    video D on the motion vector.

    With `aux_classes` ({label: number of values}) it also classifies those labels from the trunks' final features
    (the frame trunk's averaged over the judged frames, joined with the video trunk's), before any text enters:
    AC-GAN heads, `forward(..., aux=True)`."""

    def __init__(self, cfg: TFGANModelConfig, text_encoder: nn.Module, aux_classes: dict[str, int] | None = None):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.text = TextVectors(text_encoder, cfg.cond_dim)
        self.frame = FrameDiscriminator(cfg)
        self.video = VideoDiscriminator(cfg)
        dim = self.frame.trunk_dim + self.video.trunk_dim
        hidden = 2 * _widths(cfg.disc_channels)[3]
        self.aux = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, k))
            for name, k in (aux_classes or {}).items()
        })

    def pick_frames(self, video: torch.Tensor) -> torch.Tensor:
        """The frames the frame D judges: all, or `frame_samples` random ones per batch."""
        k, t = self.cfg.frame_samples, video.shape[2]
        if k in (0, t):
            return video
        return video.index_select(2, torch.randperm(t, device=video.device)[:k].sort().values)

    def forward(self, video: torch.Tensor, texts: list[tuple[torch.Tensor, torch.Tensor]], aux: bool = False):
        """(frame logits [B, T'], video logits [B]) of `video` paired with each caption batch (ids, mask) of
        `texts`. The trunks do not see the text, so they run once however many caption batches are judged.
        With `aux`, returns (that list, {label: class logits [B, K]} from the text-free trunk features)."""
        frame_feats, video_feats = self.frame.features(self.pick_frames(video)), self.video.features(video)
        out = []
        for ids, mask in texts:
            content, motion = self.text(ids, mask)
            out.append((self.frame.score(frame_feats, content), self.video.score(video_feats, motion)))
        if not aux:
            return out
        trunk = torch.cat([frame_feats[-1].mean(1), video_feats[-1]], 1)
        return out, {name: head(trunk) for name, head in self.aux.items()}
