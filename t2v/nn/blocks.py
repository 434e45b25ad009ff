"""Conv / up-conv blocks and per-sample dynamic convolution (Text2Filter)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def conv2d_block(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    """Strided 4x4 conv halving H, W; LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit root mean square over the channels (Karras et al. 2018)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class NCHWGroupNorm(nn.GroupNorm):
    """GroupNorm that normalises a channels-last input through a channels-first copy and hands the result back
    channels-last. Same parameters and output as nn.GroupNorm; on CPU torch's channels-last backward was the slow part
    of a normed decoder (`benchmarks/tfgan_decoder_speed.py`: 435 -> 148 ms for the 16-channel TFGAN decoder)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x.contiguous()).contiguous(memory_format=torch.channels_last)
        return super().forward(x)


def norm2d(kind: str, channels: int, affine: bool = True) -> nn.Module:
    """A per-sample norm for [N, C, H, W] maps (no batch statistics): `instance` (without affine parameters or
    running statistics, as CycleGAN's reference implementation), `group` (GroupNorm, up to 32 groups), `pixel`
    (PixelNorm) or `none`. `affine=False` drops GroupNorm's own scale and shift (a conditional norm supplies them).
    Each model's config says which of these it accepts."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "group":
        return NCHWGroupNorm(math.gcd(32, channels), channels, affine=affine)
    if kind == "pixel":
        return PixelNorm()
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class CondNorm2d(nn.Module):
    """A norm without its own affine parameters whose scale and shift come from a code vector:
    norm(x) * (1 + γ(code)) + β(code), with γ, β linear and zero at init (BigGAN's conditional BatchNorm). `kind` is
    one of norm2d's per-sample norms or `batch` (BatchNorm2d with running statistics, as BigGAN)."""

    def __init__(self, kind: str, channels: int, code_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False) if kind == "batch" else norm2d(kind, channels, affine=False)
        self.affine = nn.Linear(code_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        gamma, beta = rearrange(self.affine(code), "n (two c) -> two n c 1 1", two=2)
        return self.norm(x) * (1 + gamma) + beta


def up2d_block(cin: int, cout: int) -> nn.Sequential:
    """Fractionally-strided 4x4 conv doubling H, W; BatchNorm + ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _time_kernel(time_stride: int) -> tuple[int, int]:
    return (4, 1) if time_stride == 2 else (3, 1)


def conv3d_block(cin: int, cout: int, norm: bool = False, time_stride: int = 2, factorized: bool = False) -> nn.Sequential:
    """Strided conv halving H, W (and T when time_stride=2); LeakyReLU(0.2).

    factorized: a (1,4,4) spatial conv then a (kt,1,1) temporal conv ("2D+1D"), about 3x cheaper than (kt,4,4).
    """
    kt, pt = _time_kernel(time_stride)
    act = nn.LeakyReLU(0.2, inplace=True)
    if not factorized:
        layers: list[nn.Module] = [nn.Conv3d(cin, cout, (kt, 4, 4), (time_stride, 2, 2), (pt, 1, 1), bias=not norm)]
    else:
        layers = [nn.Conv3d(cin, cout, (1, 4, 4), (1, 2, 2), (0, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
                  nn.Conv3d(cout, cout, (kt, 1, 1), (time_stride, 1, 1), (pt, 0, 0), bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm3d(cout))
    return nn.Sequential(*layers, act)


def up3d_block(cin: int, cout: int, time_stride: int = 2, factorized: bool = False) -> nn.Sequential:
    """Fractionally-strided conv doubling H, W (and T when time_stride=2); BatchNorm + ReLU (2D+1D if factorized)."""
    kt, pt = _time_kernel(time_stride)
    if not factorized:
        return nn.Sequential(
            nn.ConvTranspose3d(cin, cout, (kt, 4, 4), (time_stride, 2, 2), (pt, 1, 1), bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.ConvTranspose3d(cin, cout, (1, 4, 4), (1, 2, 2), (0, 1, 1), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
        nn.ConvTranspose3d(cout, cout, (kt, 1, 1), (time_stride, 1, 1), (pt, 0, 0), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class DynamicConv(nn.Module):
    """Convolve each sample with its own kernel: one grouped conv over the batch.

    x: [B, Cin, *spatial] (2-D or 3-D), weight: [B, Cout, Cin, *kernel] -> [B, Cout, *spatial] ("same" padding).
    """

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b = x.shape[0]
        dims = x.dim() - 2
        conv = F.conv2d if dims == 2 else F.conv3d
        pad = [k // 2 for k in weight.shape[3:]]
        out = conv(
            rearrange(x, "b c ... -> 1 (b c) ..."),
            rearrange(weight, "b o i ... -> (b o) i ..."),
            None if bias is None else rearrange(bias, "b o -> (b o)"),
            padding=pad,
            groups=b,
        )
        return rearrange(out, "1 (b o) ... -> b o ...", b=b)


class Text2Filter(nn.Module):
    """Map a sentence vector to per-sample conv kernels and apply them to a feature map (Li et al. 2018).

    `kernel` is (k, k) for 2-D features or (kt, k, k) for 3-D features.
    """

    def __init__(self, text_dim: int, cin: int, cout: int, kernel: tuple[int, ...] = (3, 3)):
        super().__init__()
        self.cin, self.cout, self.kernel = cin, cout, tuple(kernel)
        n = cout * cin
        for k in self.kernel:
            n *= k
        self.to_weight = nn.Linear(text_dim, n)
        self.to_bias = nn.Linear(text_dim, cout)
        self.conv = DynamicConv()
        fan_in = cin
        for k in self.kernel:
            fan_in *= k
        # Generated kernels start at the scale of a Kaiming-initialised conv.
        nn.init.normal_(self.to_weight.weight, std=(2.0 / fan_in) ** 0.5 / text_dim**0.5)
        nn.init.zeros_(self.to_bias.bias)

    def kernels(self, sentence: torch.Tensor) -> torch.Tensor:
        return self.to_weight(sentence).view(sentence.shape[0], self.cout, self.cin, *self.kernel)

    def forward(self, x: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.conv(x, self.kernels(sentence), self.to_bias(sentence))
