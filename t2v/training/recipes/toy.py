"""Toy recipe: a 2-D GAN on a ring of 8 Gaussians. The smallest full use of the trainer (tests, smoke runs)."""
from __future__ import annotations

from pathlib import Path

import torch

from ...losses import get_adversarial_loss
from ...models.toy import ToyDiscriminator, ToyGenerator, ToyModelConfig, ring_of_gaussians
from ..recipe import Recipe


class ToyRecipe(Recipe):
    model_config = ToyModelConfig
    ema_nets = ("G",)

    def build_dataset(self) -> torch.utils.data.Dataset:
        m = self.cfg.model
        return torch.utils.data.TensorDataset(ring_of_gaussians(m.num_points, std=m.std, seed=self.cfg.train.seed))

    def build(self, dataset: torch.utils.data.Dataset) -> None:
        m = self.cfg.model
        self.loss = get_adversarial_loss(m.loss)
        self.nets = {"G": ToyGenerator(m), "D": ToyDiscriminator(m)}
        self.opts = {k: torch.optim.Adam(v.parameters(), lr=m.lr, betas=tuple(m.betas)) for k, v in self.nets.items()}

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        (real,) = batch
        G, D = self.nets["G"], self.nets["D"]
        z = torch.randn(real.shape[0], self.cfg.model.noise_dim, device=real.device)
        fake = G(z)
        d_loss = self.loss.d_loss(D(real), D(fake.detach()))
        self.update("D", d_loss)
        with self.frozen(D):
            g_loss = self.loss.g(D(fake))
            self.update("G", g_loss)
        return {"loss_d": d_loss.detach(), "loss_g": g_loss.detach()}

    def export(self, nets, out_dir: Path) -> Path:
        return nets["G"].save_pretrained(out_dir)
