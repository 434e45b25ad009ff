"""T2V (Li, Min, Shen, Carlson, Carin, AAAI 2018): gist CVAE + Text2Filter + video generator, video-text D."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from ..nn import Text2Filter, WordAttention, conv2d_block, conv3d_block, up2d_block, up3d_block
from ..text import TextFeatures
from .base import check_aux_labels


@dataclass
class T2VModelConfig:
    frames: int = 16
    size: int = 64
    z_dim: int = 32  # gist latent
    noise_dim: int = 32  # video noise
    gist_channels: int = 24  # base width of the gist CVAE
    gen_channels: int = 32  # base width of the video generator
    filter_channels: int = 16  # Text2Filter output channels
    filter_size: int = 3
    disc_channels: int = 24
    disc_fusion: str = "filter"  # concat | filter: how D fuses the text
    disc_norm: str = "none"  # none | spectral: spectral normalisation of every D weight (Miyato et al. 2018)
    factorized: bool = False  # 2D+1D (spatial then temporal) convs: fewer FLOPs, but slower than 3-D on CPU
    two_stream: bool = True  # VGAN: static background (the gist) + moving foreground and mask
    prior: str = "standard"  # standard: KL to N(0, I); text: KL to a learned p(z | text)
    word_attention: bool = False  # gist decoder and video generator maps also attend over the caption's words
    # objective and weights (recipe side)
    loss: str = "hinge"
    gp_weight: float = 10.0  # used by wgan_gp
    r1_gamma: float = 0.0
    r1_every: int = 1  # lazy R1 (Karras et al. 2020): the penalty every k D steps, weighted k x gamma
    kl_weight: float = 0.2
    kl_warmup: int = 300  # steps of linear KL annealing
    gist_weight: float = 10.0  # L1 reconstruction of the first frame by the gist decoder
    recon_weight: float = 10.0  # L1 reconstruction of the clip from the posterior gist (hybrid VAE+GAN)
    adv_weight: float = 1.0
    fg_weight: float = 20.0  # extra weight of salient pixels (figure outlines) in both reconstructions; 0: plain L1
    fg_threshold: float = 0.25  # |pixel - 9x9 local mean| (in [-1, 1] units) above which a pixel is salient
    mask_weight: float = 0.05  # L1 penalty on the foreground mask (two-stream)
    mismatch_weight: float = 0.5  # share of mismatched-caption negatives in the D fake term
    mismatch_hard: float = 0.0  # share of those captions taken from clips one label off (same place, other action)
    # AC-GAN (Odena et al. 2017): D also classifies these dataset labels from the clip alone (no text), trained on
    # real clips; G is trained to make its clips read as their caption's labels. [] = off. Name only labels every
    # caption determines (Scene-Actions: action, place).
    aux_labels: list[str] = field(default_factory=list)
    aux_weight: float = 1.0
    aux_mode: str = "ac"  # ac: heads learn from real items; adc: ADC-GAN, 2K classes, also from G's
    aux_adc_start: int = 0  # adc: step from which D's heads also learn G's items (before: real ones only)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    n_critic: int = 1

    def check(self) -> None:
        from ..errors import ConfigError

        if self.size < 16 or self.size & (self.size - 1):
            raise ConfigError(f"model.size must be a power of two >= 16, got {self.size}")
        if self.frames < 8 or self.frames % 8:
            raise ConfigError(f"model.frames must be a multiple of 8, got {self.frames}")
        if self.disc_fusion not in ("concat", "filter"):
            raise ConfigError(f"model.disc_fusion must be concat or filter, got {self.disc_fusion!r}")
        if self.disc_norm not in ("none", "spectral"):
            raise ConfigError(f"model.disc_norm must be none or spectral, got {self.disc_norm!r}")
        if self.prior not in ("standard", "text"):
            raise ConfigError(f"model.prior must be standard or text, got {self.prior!r}")
        if self.r1_every < 1:
            raise ConfigError(f"model.r1_every must be >= 1, got {self.r1_every}")
        if not 0.0 <= self.mismatch_hard <= 1.0:
            raise ConfigError(f"model.mismatch_hard is a share in [0, 1], got {self.mismatch_hard}")
        check_aux_labels(self.aux_labels, self.aux_weight, self.aux_mode, self.aux_adc_start)


def _mlp(din: int, dout: int, hidden: int = 256) -> nn.Sequential:
    return nn.Sequential(nn.Linear(din, hidden), nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden, dout))


class GistCVAE(nn.Module):
    """q(z | text, first frame) -> decoder([z, text]) -> gist image; prior p(z | text) or N(0, I)."""

    def __init__(self, cfg: T2VModelConfig, text_dim: int):
        super().__init__()
        ch, n = cfg.gist_channels, int(math.log2(cfg.size // 4))
        widths = [ch * 2**i for i in range(n)]
        self.z_dim, self.top = cfg.z_dim, widths[-1]
        self.encoder = nn.Sequential(
            conv2d_block(3, widths[0], norm=False), *[conv2d_block(a, b) for a, b in zip(widths, widths[1:])]
        )
        self.posterior = _mlp(widths[-1] * 16 + text_dim, 2 * cfg.z_dim)
        self.prior = _mlp(text_dim, 2 * cfg.z_dim) if cfg.prior == "text" else None
        self.dec_in = nn.Sequential(nn.Linear(cfg.z_dim + text_dim, widths[-1] * 16), nn.ReLU(inplace=True))
        rev = widths[::-1]
        self.decoder = nn.Sequential(
            *[up2d_block(a, b) for a, b in zip(rev, rev[1:])],
            nn.ConvTranspose2d(rev[-1], 3, 4, 2, 1),
            nn.Tanh(),
        )
        # word attention after every up-block (8x8 and finer), keyed by its index in `decoder`
        self.attend = nn.ModuleDict(
            {str(i): WordAttention(b, text_dim) for i, b in enumerate(rev[1:])} if cfg.word_attention else {}
        )

    def encode(self, frame: torch.Tensor, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = rearrange(self.encoder(frame), "b c h w -> b (c h w)")
        return self.posterior(torch.cat([h, sentence], 1)).chunk(2, 1)

    def prior_params(self, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.prior is None:
            zeros = sentence.new_zeros(sentence.shape[0], self.z_dim)
            return zeros, zeros
        return self.prior(sentence).chunk(2, 1)

    def decode(self, z: torch.Tensor, sentence: torch.Tensor, text: TextFeatures | None = None) -> torch.Tensor:
        h = rearrange(self.dec_in(torch.cat([z, sentence], 1)), "b (c h w) -> b c h w", h=4, w=4)
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if str(i) in self.attend:
                h = self.attend[str(i)](h, text.words, text.mask)
        return h


class VideoGenerator(nn.Module):
    """Gist features filtered by text-generated kernels + noise + text -> clip [B, 3, T, H, W] in [-1, 1]."""

    def __init__(self, cfg: T2VModelConfig, text_dim: int):
        super().__init__()
        c = cfg.gen_channels
        self.two_stream, self.t0 = cfg.two_stream, cfg.frames // 8
        self.gist_encoder = nn.Sequential(conv2d_block(3, c // 2, norm=False), conv2d_block(c // 2, c), conv2d_block(c, c))
        self.reduce = nn.Conv2d(c, c // 2, 1)
        self.text2filter = Text2Filter(text_dim, c // 2, cfg.filter_channels, (cfg.filter_size, cfg.filter_size))
        self.code = nn.Linear(cfg.noise_dim + text_dim, c)
        top = 4 * c
        self.fuse = nn.Sequential(nn.Conv2d(c + cfg.filter_channels + c, top, 1), nn.ReLU(inplace=True))
        # [B, top, 1, S/8, S/8] -> [B, top, T/8, S/8, S/8]: a learned temporal unfolding of the fused code
        self.unfold_time = nn.Sequential(
            nn.ConvTranspose3d(top, top, (self.t0, 1, 1), bias=False), nn.BatchNorm3d(top), nn.ReLU(inplace=True)
        )
        f, out_ch = cfg.factorized, 4 if cfg.two_stream else 3
        self.up = nn.Sequential(up3d_block(top, 2 * c, factorized=f), up3d_block(2 * c, c, factorized=f))
        # word attention on the fused 2-D code and after each 3-D up-block
        self.attend = nn.ModuleList(
            [WordAttention(w, text_dim) for w in (top, 2 * c, c)] if cfg.word_attention else []
        )
        if f:
            self.out = nn.Sequential(
                nn.ConvTranspose3d(c, c // 2, (1, 4, 4), (1, 2, 2), (0, 1, 1), bias=False),
                nn.BatchNorm3d(c // 2),
                nn.ReLU(inplace=True),
                nn.ConvTranspose3d(c // 2, out_ch, (4, 1, 1), (2, 1, 1), (1, 0, 0)),
            )
        else:
            self.out = nn.ConvTranspose3d(c, out_ch, 4, 2, 1)

    def forward(
        self, gist: torch.Tensor, sentence: torch.Tensor, noise: torch.Tensor, text: TextFeatures | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        g = self.gist_encoder(gist)
        filtered = F.leaky_relu(self.text2filter(self.reduce(g), sentence), 0.2)
        code = repeat(self.code(torch.cat([noise, sentence], 1)), "b c -> b c h w", h=g.shape[2], w=g.shape[3])
        h = self.fuse(torch.cat([g, filtered, code], 1))
        if not self.attend:
            h = self.out(self.up(self.unfold_time(h.unsqueeze(2))))
        else:
            h = self.unfold_time(self.attend[0](h, text.words, text.mask).unsqueeze(2))
            for up, attend in zip(self.up, self.attend[1:]):
                h = attend(up(h), text.words, text.mask)
            h = self.out(h)
        if not self.two_stream:
            return torch.tanh(h), None
        fg, mask = torch.tanh(h[:, :3]), torch.sigmoid(h[:, 3:])
        background = gist.unsqueeze(2)
        return mask * fg + (1 - mask) * background, mask


class T2VGenerator(nn.Module):
    """Text encoder + gist CVAE + video generator: the part that is exported for sampling."""

    def __init__(self, cfg: T2VModelConfig, text_encoder: nn.Module):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.text_encoder = text_encoder
        d = text_encoder.dim
        self.gist = GistCVAE(cfg, d)
        self.video = VideoGenerator(cfg, d)

    def latent_shapes(self) -> dict[str, tuple[int, ...]]:
        """The random inputs of one clip sampled from the text prior (see forward)."""
        return {"eps": (self.cfg.z_dim,), "noise": (self.cfg.noise_dim,)}

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, first_frame: torch.Tensor | None = None,
        eps: torch.Tensor | None = None, noise: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Sample clips from the text prior. With `first_frame` (training) also decode z ~ q(z | text, frame)
        in the same batched pass; those outputs carry a `post_` prefix.

        eps [B, z_dim] and noise [B, noise_dim] are the prior branch's random inputs (drawn when not given).
        """
        text = self.text_encoder(ids, mask)
        s = text.sentence
        b, dev = s.shape[0], s.device
        eps = torch.randn(b, self.cfg.z_dim, device=dev) if eps is None else eps
        noise = torch.randn(b, self.cfg.noise_dim, device=dev) if noise is None else noise
        p_mu, p_logvar = self.gist.prior_params(s)
        z, cond = p_mu + eps * (0.5 * p_logvar).exp(), s
        out: dict[str, torch.Tensor] = {"prior_mu": p_mu, "prior_logvar": p_logvar, "sentence": s}
        if first_frame is not None:
            mu, logvar = self.gist.encode(first_frame, s)
            z_post = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            z, cond = torch.cat([z, z_post]), torch.cat([s, s])
            text = TextFeatures(*(torch.cat([t, t]) for t in text))
            noise = torch.cat([noise, torch.randn_like(noise)])
            out.update(mu=mu, logvar=logvar)
        gist = self.gist.decode(z, cond, text)
        video, fg_mask = self.video(gist, cond, noise, text)
        parts = {"gist": gist, "video": video} | ({"mask": fg_mask} if fg_mask is not None else {})
        for name, value in parts.items():
            out[name] = value[:b]
            if first_frame is not None:
                out[f"post_{name}"] = value[b:]
        return out


class VideoTextDiscriminator(nn.Module):
    """Judges (clip, caption) pairs: 3-D conv trunk; text by concat (tiled) or Text2Filter at two scales.

    With `aux_classes` ({label: number of values}) it also classifies those labels from the pooled third-block
    features, before any text is fused in (AC-GAN heads; `forward(..., aux=True)`)."""

    def __init__(self, cfg: T2VModelConfig, text_encoder: nn.Module, aux_classes: dict[str, int] | None = None):
        super().__init__()
        cfg.check()
        self.text_encoder = text_encoder
        d, c = text_encoder.dim, cfg.disc_channels
        self.fusion = cfg.disc_fusion
        f = cfg.factorized
        self.b1 = conv3d_block(3, c, factorized=f)
        self.b2 = conv3d_block(c, 2 * c, factorized=f)
        self.b3 = conv3d_block(2 * c, 4 * c, factorized=f)
        self.b4 = conv3d_block(4 * c, 8 * c, time_stride=2 if cfg.frames >= 16 else 1, factorized=f)
        if self.fusion == "concat":
            self.tile = nn.Linear(d, c)
            self.joint = nn.Sequential(nn.Conv3d(4 * c + c, 4 * c, 1), nn.LeakyReLU(0.2, inplace=True))
        else:
            r = c // 2
            self.reduce = nn.ModuleList([nn.Conv3d(2 * c, r, 1), nn.Conv3d(4 * c, r, 1)])
            self.filters = nn.ModuleList([Text2Filter(d, r, r, (3, 3, 3)) for _ in range(2)])
            self.branch_out = nn.ModuleList([nn.Linear(r, 1) for _ in range(2)])
        self.text_proj = nn.Linear(d, 2 * c)
        self.head = nn.Linear(8 * c + 2 * c, 1)
        self.aux = nn.ModuleDict({name: nn.Linear(4 * c, k) for name, k in (aux_classes or {}).items()})
        if cfg.disc_norm == "spectral":  # the text encoder keeps its own parametrisation
            for name, module in self.named_modules():
                if isinstance(module, (nn.Conv3d, nn.Linear)) and not name.startswith("text_encoder"):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, video: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, aux: bool = False):
        """The match logit [B]; with `aux`, also {label: class logits [B, K]} from the text-free trunk."""
        s = self.text_encoder(ids, mask).sentence
        h2 = self.b2(self.b1(video))
        h3 = self.b3(h2)
        aux_out = {name: head(h3.mean(dim=(2, 3, 4))) for name, head in self.aux.items()} if aux else {}
        logit = 0.0
        if self.fusion == "concat":
            t = repeat(self.tile(s), "b c -> b c t h w", t=h3.shape[2], h=h3.shape[3], w=h3.shape[4])
            h3 = self.joint(torch.cat([h3, t], 1))
        else:
            for feats, red, filt, out in zip((h2, h3), self.reduce, self.filters, self.branch_out):
                f = F.leaky_relu(filt(red(feats), s), 0.2)
                logit = logit + out(f.mean(dim=(2, 3, 4)))
        h4 = self.b4(h3).mean(dim=(2, 3, 4))
        logit = (self.head(torch.cat([h4, F.leaky_relu(self.text_proj(s), 0.2)], 1)) + logit).squeeze(1)
        return (logit, aux_out) if aux else logit
