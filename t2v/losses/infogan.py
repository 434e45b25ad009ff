"""InfoGAN (Chen et al. 2016): latent codes c, a Q head on the discriminator trunk, and the mutual-information
lower bound L_I = H(c) + E[log Q(c | G(z, c))] <= I(c; G(z, c))."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class CodeSample:
    vector: Tensor  # [B, codes.dim]: one-hot categorical codes then continuous codes, fed to G with z
    categorical: Tensor  # int64 [B, n_categorical]
    continuous: Tensor  # [B, n_continuous], Uniform(-1, 1)


@dataclass
class LatentCodes:
    """Which codes G receives: one categorical code per entry of `categorical` (its number of classes, uniform
    prior) and `continuous` codes with Uniform(-1, 1) priors."""

    categorical: list[int] = field(default_factory=lambda: [10])
    continuous: int = 0

    @property
    def dim(self) -> int:
        return sum(self.categorical) + self.continuous

    def sample(
        self, batch: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> CodeSample:
        cats = [torch.randint(k, (batch,), device=device, generator=generator) for k in self.categorical]
        cont = torch.rand(batch, self.continuous, device=device, generator=generator) * 2 - 1
        cat = torch.stack(cats, 1) if cats else torch.zeros(batch, 0, dtype=torch.long, device=device)
        return self.encode(cat, cont)

    def encode(self, categorical: Tensor, continuous: Tensor) -> CodeSample:
        """Build the code vector for chosen values (e.g. to sweep one code while fixing the rest)."""
        one_hots = [F.one_hot(categorical[:, i], k).to(continuous.dtype) for i, k in enumerate(self.categorical)]
        return CodeSample(torch.cat(one_hots + [continuous], 1), categorical, continuous)

    def entropy(self) -> float:
        """H(c) in nats for the priors (uniform categorical; Uniform(-1, 1) has differential entropy log 2)."""
        return sum(math.log(k) for k in self.categorical) + self.continuous * math.log(2.0)


@dataclass
class QOutput:
    categorical_logits: list[Tensor]  # one [B, K] per categorical code
    mean: Tensor  # [B, n_continuous]
    logstd: Tensor  # [B, n_continuous]


class QHead(nn.Module):
    """Q(c | x) on features of the discriminator's shared trunk: categorical logits and a factored Gaussian."""

    def __init__(self, in_features: int, codes: LatentCodes, hidden: int = 128) -> None:
        super().__init__()
        self.codes = codes
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.2))
        self.out = nn.Linear(hidden, sum(codes.categorical) + 2 * codes.continuous)

    def forward(self, features: Tensor) -> QOutput:
        out = self.out(self.body(features.flatten(1)))
        logits = list(out[:, : sum(self.codes.categorical)].split(self.codes.categorical, 1))
        mean, logstd = out[:, sum(self.codes.categorical) :].chunk(2, 1)
        return QOutput(logits, mean, logstd.clamp(-5, 2))


def info_loss(q: QOutput, codes: CodeSample, continuous_weight: float = 1.0) -> Tensor:
    """-E[log Q(c | x)] per sample (averaged over the batch): cross-entropy for each categorical code plus the
    Gaussian negative log-likelihood of the continuous codes; minimise it (weighted by λ) in G and Q."""
    loss = sum(F.cross_entropy(lg, codes.categorical[:, i]) for i, lg in enumerate(q.categorical_logits))
    loss = torch.as_tensor(loss, dtype=q.mean.dtype, device=q.mean.device)
    if codes.continuous.shape[1]:
        z = (codes.continuous - q.mean) * torch.exp(-q.logstd)
        nll = (0.5 * z.pow(2) + q.logstd + 0.5 * math.log(2 * math.pi)).sum(1).mean()
        loss = loss + continuous_weight * nll
    return loss


def mutual_information_lower_bound(q: QOutput, codes: CodeSample, spec: LatentCodes) -> Tensor:
    """L_I = H(c) + E[log Q(c | x)] in nats (continuous_weight 1), a lower bound on I(c; G(z, c))."""
    return spec.entropy() - info_loss(q, codes)
