"""CycleGAN (Zhu et al. 2017): ResNet generator, PatchGAN discriminator and the history pool of generated images.

Generator (the paper's appendix, Johnson et al.'s design): c7s1-ngf, d(2 ngf), d(4 ngf), R(4 ngf) x n_blocks,
u(2 ngf), u(ngf), c7s1-3 + tanh; instance norm, reflection padding. With `attention: true` the last layer also
draws a mask a (one more channel, a sigmoid) and the output is a ⊙ tanh(content) + (1 − a) ⊙ input: the
attention-guided generator (Mejjati et al. 2018; Tang et al. 2019, AttentionGAN), which leaves what it does not
attend to untouched. Discriminator: the 70x70 PatchGAN
(C64-C128-C256-C512 with 4x4 convs, the last one stride 1, then a 1-channel conv; no norm on the first layer).
Weights start from N(0, 0.02) as in the reference implementation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import norm2d
from .base import ModelMixin, check_lr_decay_start

NORMS = ("instance", "none")  # per-sample: a step may batch images of both domains through one net
PADDINGS = ("reflect", "replicate", "zeros")


@dataclass
class ResnetGeneratorConfig:
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64  # channels of the first layer; 2x and 4x after the two downsamplings
    n_blocks: int = 6  # residual blocks: 6 for 128x128 and smaller images, 9 for 256x256 (Zhu et al.)
    norm: str = "instance"  # instance | none
    padding: str = "reflect"  # reflect | replicate | zeros
    dropout: float = 0.0  # inside the residual blocks (the CycleGAN default is none)
    # attention-guided output: a per-pixel mask a in [0, 1] from one more output channel; the output is
    # a * tanh(content) + (1 - a) * input, so pixels the mask leaves out are passed through unchanged
    attention: bool = False
    attention_init: float = 0.5  # the mask everywhere at the start (the bias of its logit); in (0, 1)

    def check(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"generator.norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.attention and self.in_channels != self.out_channels:
            raise ConfigError("generator.attention blends the output with the input: it needs in_channels == "
                              "out_channels")
        if not 0.0 < self.attention_init < 1.0:
            raise ConfigError(f"generator.attention_init is the starting mask, in (0, 1); got {self.attention_init}")
        if self.padding not in PADDINGS:
            raise ConfigError(f"generator.padding must be one of {', '.join(PADDINGS)}, got {self.padding!r}")
        if min(self.ngf, self.in_channels, self.out_channels) < 1 or self.n_blocks < 0:
            raise ConfigError("generator: ngf and channel counts must be positive and n_blocks >= 0")


@dataclass
class PatchDiscriminatorConfig:
    in_channels: int = 3
    ndf: int = 64
    n_layers: int = 3  # stride-2 layers; 3 gives the 70x70 receptive field of the paper
    norm: str = "instance"

    def check(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"discriminator.norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.ndf < 1 or self.n_layers < 1:
            raise ConfigError("discriminator: ndf and n_layers must be positive")


def padded_conv(cin: int, cout: int, kernel: int, padding: str) -> list[nn.Module]:
    """A 'same' conv whose border is padded by `padding` (reflect | replicate | zeros)."""
    p = kernel // 2
    if padding == "zeros":
        return [nn.Conv2d(cin, cout, kernel, padding=p)]
    pad = nn.ReflectionPad2d(p) if padding == "reflect" else nn.ReplicationPad2d(p)
    return [pad, nn.Conv2d(cin, cout, kernel)]


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """N(0, gain) conv weights and zero biases (Zhu et al.'s 'normal' init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            nn.init.zeros_(m.bias)


class ResnetBlock(nn.Module):
    """x + (pad-conv3-norm-ReLU[-dropout]-pad-conv3-norm)(x)."""

    def __init__(self, dim: int, norm: str, padding: str, dropout: float):
        super().__init__()
        layers = [*padded_conv(dim, dim, 3, padding), norm2d(norm, dim), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [*padded_conv(dim, dim, 3, padding), norm2d(norm, dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(ModelMixin, nn.Module):
    """Image [B, C, H, W] in [-1, 1] -> translated image of the same size (H, W divisible by 4)."""

    config_class = ResnetGeneratorConfig

    def __init__(self, config: ResnetGeneratorConfig):
        super().__init__()
        config.check()
        self.config = config
        c, norm, pad = config.ngf, config.norm, config.padding
        layers: list[nn.Module] = [*padded_conv(config.in_channels, c, 7, pad), norm2d(norm, c), nn.ReLU(True)]
        for _ in range(2):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm2d(norm, 2 * c), nn.ReLU(True)]
            c *= 2
        layers += [ResnetBlock(c, norm, pad, config.dropout) for _ in range(config.n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       norm2d(norm, c // 2), nn.ReLU(True)]
            c //= 2
        # the mask's logit is one more output channel of the last conv (parameter names as without attention)
        layers += [*padded_conv(c, config.out_channels + int(config.attention), 7, pad)]
        self.net = nn.Sequential(*layers)
        init_weights(self)
        if config.attention:
            with torch.no_grad():
                p = config.attention_init
                layers[-1].bias[-1] = float(torch.logit(torch.tensor(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.translate(x)[0]

    def translate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(translated image, attention mask [B, 1, H, W] in [0, 1] or None without attention)."""
        y = self.net(x)
        if not self.config.attention:
            return torch.tanh(y), None
        content, mask = torch.tanh(y[:, :-1]), torch.sigmoid(y[:, -1:])
        return mask * content + (1 - mask) * x, mask


class PatchDiscriminator(nn.Module):
    """Image [B, C, H, W] -> one real/fake logit per overlapping patch, [B, 1, h, w]."""

    def __init__(self, config: PatchDiscriminatorConfig):
        super().__init__()
        config.check()
        ndf = config.ndf
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, config.n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < config.n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1), norm2d(config.norm, ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImagePool:
    """History of generated images (Shrivastava et al. 2017) that D is trained on, as CycleGAN's image buffer.

    Until `size` images are stored every query image is stored and returned; afterwards each image is, with
    probability 1/2, swapped for a random stored one (which is returned), else returned as is. Random draws come
    from torch's global generator, so a run resumed with its RNG state continues identically. `state_dict` /
    `load_state_dict` let the trainer checkpoint the pool (accelerate's `register_for_checkpointing`).
    """

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() < 0.5:
                k = int(torch.randint(self.size, ()).item())
                out.append(self.images[k])
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, torch.Tensor]:
        stored = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"images": stored}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.images = [im.clone() for im in state["images"]] if state["images"].numel() else []


@dataclass
class CycleGANModelConfig:
    """The `model` section of a cyclegan config: networks, the two domains, augmentation and the objective."""

    generator: ResnetGeneratorConfig = field(default_factory=ResnetGeneratorConfig)
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)
    domain_a: str = "domain=A"  # items of domain A: `domain=NAME` or `LABEL=VALUE` (e.g. place=grass)
    domain_b: str = "domain=B"
    load_size: int = 0  # training images are resized (bicubic) to this before the random crop; 0 = as stored
    crop_size: int = 0  # random training crop; 0 = the whole image
    flip: bool = False  # random horizontal flips in training
    # probability that a training image gets 1 to `distractor_count` flat shapes pasted on it, in colours drawn from
    # both domains' images (t2v.data.domains.paint_distractors; not in Zhu et al.), and the generators pay
    # λ·distractor_weight · the L1 between their output and input on those shapes (averaged over the image): a pasted
    # object is not part of either domain and passes through, even where it has the colour of what they repaint
    distractors: float = 0.0  # 0 = off
    distractor_count: int = 3
    distractor_weight: float = 1.0
    loss: str = "lsgan"  # adversarial objective from t2v.losses
    adv_weight: float = 2.0  # the catalogue's LSGAN halves each term (Mao et al.); 2 restores Zhu et al.'s E[(D(G(x))-1)^2]
    lambda_cycle: float = 10.0  # λ of the cycle-consistency L1 (both directions)
    lambda_identity: float = 0.5  # identity L1 weight, as a fraction of λ (0 = off)
    pool_size: int = 50  # history of fakes D is trained on (0 = the latest fakes only)
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    lr_decay_start: float = 0.5  # fraction of train.max_steps after which the lr decays linearly to 0
    channels_last: bool = True  # NHWC activations (faster convolutions on CPU)
    adam: str = "foreach"  # Adam implementation: foreach | fused | single_tensor
    preview_images: int = 4  # per domain, in the preview grid
    # CyCADA's semantic consistency (Hoffman et al. 2018), an addition to Zhu et al.'s objective (0 = off): a LeNet
    # classifier f of domain A's `semantic_label` is trained first (A's labels only) and frozen; the generators then
    # also pay CE(f(G_AB(a)), argmax f(a)) + CE(f(G_BA(b)), argmax f(b)), so a translation keeps what f reads
    semantic_weight: float = 0.0
    semantic_label: str = "digit"
    semantic_steps: int = 1000  # classifier training steps (Adam, batches of 64 training images of A)
    semantic_lr: float = 1e-3
    # f sees A's images with random affine maps, thicker / thinner strokes and lower resolutions (t2v.training.semantic)
    semantic_augment: bool = False
    # then that many steps of self-training on B's unlabelled training images (FixMatch with distribution alignment;
    # t2v.training.semantic), so that f reads B as well: B's labels are still never used
    semantic_adapt_steps: int = 0
    semantic_threshold: float = 0.9  # self-training: the confidence at which f's reading of a B image is its target
    # > 0: a LeNet f_B learns B alone, from B's training images labelled by f (this many steps, small random affine
    # maps), and reads G_AB's translations in f's place: a translation must look like B's own drawing of its class.
    # semantic_source_steps likewise: f_A learns A alone from A's labelled images and reads G_BA's translations
    semantic_target_steps: int = 0
    semantic_source_steps: int = 0
    semantic_readers: int = 1  # LeNets per reader f_A / f_B (own seeds); each must read the translation's class

    def check(self) -> None:
        self.generator.check()
        self.discriminator.check()
        if self.generator.in_channels != self.generator.out_channels and self.lambda_identity > 0:
            raise ConfigError("the identity loss needs generator.in_channels == out_channels; set lambda_identity: 0")
        if self.generator.in_channels != self.generator.out_channels and self.semantic_weight > 0:
            raise ConfigError("the semantic loss reads both domains with one classifier: it needs "
                              "generator.in_channels == out_channels; set semantic_weight: 0")
        if self.adam not in ("foreach", "fused", "single_tensor"):
            raise ConfigError(f"model.adam must be foreach, fused or single_tensor, got {self.adam!r}")
        check_lr_decay_start(self.lr_decay_start)
        if not 0.0 <= self.distractors <= 1.0 or self.distractor_count < 1 or self.distractor_weight < 0:
            raise ConfigError("model.distractors is a probability in [0, 1], distractor_count must be >= 1 and "
                              "distractor_weight >= 0")
        if self.pool_size < 0 or self.load_size < 0 or self.crop_size < 0:
            raise ConfigError("model.pool_size, load_size and crop_size must be >= 0")
        if self.semantic_weight < 0 or self.semantic_steps < 1 or self.semantic_lr <= 0:
            raise ConfigError("model.semantic_weight must be >= 0, semantic_steps >= 1 and semantic_lr > 0")
        if self.semantic_readers < 1:
            raise ConfigError("model.semantic_readers must be >= 1")
        if (min(self.semantic_adapt_steps, self.semantic_target_steps, self.semantic_source_steps) < 0
                or not 0.0 <= self.semantic_threshold <= 1.0):
            raise ConfigError("model.semantic_adapt_steps, semantic_target_steps and semantic_source_steps must be "
                              ">= 0 and semantic_threshold in [0, 1]")
        if self.crop_size % 4 or self.load_size and self.crop_size > self.load_size:
            raise ConfigError("model.crop_size must be a multiple of 4 and at most load_size")
