"""EBGAN (Zhao, Mathieu, LeCun 2017): an autoencoder discriminator whose energy is the reconstruction error."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def reconstruction_energy(reconstruction: Tensor, inputs: Tensor) -> Tensor:
    """Per-sample energy D(x) = mean squared reconstruction error, shape [B]."""
    return (reconstruction - inputs).pow(2).flatten(1).mean(1)


def pulling_away_term(embeddings: Tensor) -> Tensor:
    """PT = 1/(N(N-1)) Σ_{i≠j} cos²(s_i, s_j) over a batch of encoder embeddings; pushes G's samples apart."""
    s = F.normalize(embeddings.flatten(1), dim=1)
    n = s.shape[0]
    sim2 = (s @ s.T).pow(2)
    return (sim2.sum() - sim2.diagonal().sum()) / (n * (n - 1))


class EBGANLoss:
    """Margin loss on energies: D minimises D(x) + [m - D(G(z))]⁺; G minimises D(G(z)) + w_pt·PT."""

    def __init__(self, margin: float = 1.0, pt_weight: float = 0.1) -> None:
        self.margin = margin
        self.pt_weight = pt_weight

    def d_real(self, energy: Tensor) -> Tensor:
        return energy.mean()

    def d_fake(self, energy: Tensor) -> Tensor:
        return F.relu(self.margin - energy).mean()

    def d_loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        return self.d_real(real_energy) + self.d_fake(fake_energy)

    def g(self, fake_energy: Tensor, fake_embeddings: Tensor | None = None) -> Tensor:
        loss = fake_energy.mean()
        if fake_embeddings is not None and self.pt_weight > 0:
            loss = loss + self.pt_weight * pulling_away_term(fake_embeddings)
        return loss
