"""VAE-family recipe: vae / cvae / m2 / classifier (M2's labels-only baseline); `model.kind` says which.

vae and cvae maximise the ELBO of every training image (cvae given its class). m2 (Kingma et al. 2014) draws
`labels_per_class` labeled images per class from the split (seeded by train.seed) and treats the rest as
unlabeled; each step takes a batch of unlabeled images from the loader and `labeled_batch` labeled ones and
minimises J^α / N = (N_l·E_l[-L(x, y)] + N_u·E_u[-U(x)]) / N + α·E_l[-log q(y|x)] (α = model.alpha; the paper's
α·N with the objective summed over the N training images). classifier trains q(y|x) alone on the same labeled
images with cross-entropy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...data.format import BuiltDataset
from ...data.loader import CaptionedDataset
from ...data.video import save_image_grid
from ...errors import ConfigError, DatasetError
from ...models.vae import VAE, VAEModelConfig, build_model
from ..data import ensure_dataset
from ..recipe import Recipe


def model_input(pixels: torch.Tensor, channels: int) -> torch.Tensor:
    """Loader pixels [B, 3, H, W] in [-1, 1] -> the model's [B, channels, H, W] in [0, 1]."""
    return (pixels[:, :channels] + 1) / 2


def labeled_positions(labels: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Positions of `per_class` examples of each class, drawn without replacement by `seed` (sorted)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    picks = []
    for c in range(num_classes):
        of_class = order[labels[order] == c][:per_class]
        if len(of_class) < per_class:
            raise DatasetError(f"class {c} has {len(of_class)} examples, fewer than labels_per_class={per_class}")
        picks.append(of_class)
    return np.sort(np.concatenate(picks))


class VAERecipe(Recipe):
    model_config = VAEModelConfig

    def build_dataset(self) -> torch.utils.data.Dataset:
        m = self.cfg.model
        m.check()
        path = ensure_dataset(self.cfg.data, self.accelerator)
        self.data = BuiltDataset(path)
        if self.data.kind not in ("image", "labeled") or tuple(self.data.item_shape[:2]) != (m.size, m.size):
            raise ConfigError(f"model expects {m.size}x{m.size} images but {path} holds {self.data.kind} items of "
                              f"shape {list(self.data.item_shape)}; set model.size or use an image dataset")
        if m.kind != "vae":
            if m.label not in self.data.label_names:
                raise ConfigError(f"model.label {m.label!r} is not a label of {path} ({', '.join(self.data.label_names)})")
            vocab = self.data.label_vocab(m.label)
            if len(vocab) != m.num_classes:
                raise ConfigError(f"label {m.label!r} of {path} has {len(vocab)} values, model.num_classes is "
                                  f"{m.num_classes}; set model.num_classes={len(vocab)}")
            self.label_index = self.data.label_names.index(m.label)
        dataset = CaptionedDataset(self.data, split=self.cfg.data.split, domain=m.domain or None)
        if m.kind not in ("m2", "classifier"):
            return dataset
        labels = dataset.labels[:, self.label_index].numpy()
        labeled = labeled_positions(labels, m.labels_per_class, m.num_classes, self.cfg.train.seed)
        self.num_labeled, self.num_total = len(labeled), len(dataset)
        if m.kind == "classifier":
            if self.cfg.data.batch_size > len(labeled):
                raise ConfigError(f"data.batch_size={self.cfg.data.batch_size} is more than the {len(labeled)} labeled "
                                  "examples the classifier trains on; lower it or raise model.labels_per_class")
            return torch.utils.data.Subset(dataset, labeled.tolist())
        batch = dataset._batch(labeled)
        self.labeled_x = model_input(batch["pixels"], m.channels)
        self.labeled_y = batch["labels"][:, self.label_index]
        return torch.utils.data.Subset(dataset, np.setdiff1d(np.arange(len(dataset)), labeled).tolist())

    def build(self, dataset: torch.utils.data.Dataset) -> None:
        m = self.cfg.model
        self.nets = {"model": build_model(m)}
        self.opts = {"model": torch.optim.Adam(self.nets["model"].parameters(), lr=m.lr)}

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        m, model = self.cfg.model, self.nets["model"]
        x = model_input(batch["pixels"], m.channels)
        y = batch["labels"][:, self.label_index] if m.kind != "vae" else None
        logs: dict[str, torch.Tensor] = {}
        if m.kind == "classifier":
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            logs["acc"] = (logits.argmax(1) == y).float().mean().detach()
        elif m.kind == "m2":
            loss, logs = self._m2_loss(model, x)
        else:
            out = model(x, y)
            loss = out["neg_elbo"].mean()
            logs.update(rec=out["rec"].mean().detach(), kl=out["kl"].mean().detach())
        self.update("model", loss)
        return {"loss": loss.detach(), **logs}

    def _m2_loss(self, model: torch.nn.Module, x_unlabeled: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One forward over a labeled batch and the unlabeled batch (y = -1): Kingma et al.'s J^α / N."""
        m, dev = self.cfg.model, x_unlabeled.device
        pick = torch.randint(self.num_labeled, (min(m.labeled_batch, self.num_labeled),))
        x_l, y_l = self.labeled_x[pick].to(dev), self.labeled_y[pick].to(dev)
        b = len(pick)
        y = torch.cat([y_l, torch.full((x_unlabeled.shape[0],), -1, dtype=y_l.dtype, device=dev)])
        out = model(torch.cat([x_l, x_unlabeled]), y)
        labeled, unlabeled = out["neg_elbo"][:b].mean(), out["neg_elbo"][b:].mean()
        ce = F.cross_entropy(out["logits"][:b], y_l)
        n_l, n = self.num_labeled, self.num_total
        loss = (n_l * labeled + (n - n_l) * unlabeled) / n + m.alpha * ce
        return loss, {"labeled": labeled.detach(), "unlabeled": unlabeled.detach(), "ce": ce.detach()}

    def preview(self, nets, step: int, out_dir: Path) -> list[Path]:
        model = nets["model"]
        if not isinstance(model, VAE):
            return []
        return [save_samples(model, out_dir / f"step_{step:08d}.png")]

    def export(self, nets, out_dir: Path) -> Path:
        dtype = torch.float16 if self.cfg.train.export_dtype == "float16" else None
        return nets["model"].save_pretrained(out_dir, dtype=dtype)


def save_samples(model: VAE, path: Path, per_row: int = 10, rows: int = 10, seed: int = 0) -> Path:
    """A PNG grid of samples: one row per class for conditional models, else rows x per_row unconditional ones."""
    g = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    if model.config.conditional:
        y = torch.arange(model.config.num_classes).repeat_interleave(per_row)
        images = model.sample(len(y), y, generator=g)
    else:
        images = model.sample(rows * per_row, generator=g)
    model.train(was_training)
    grey = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    rgb = grey.expand(-1, 3, -1, -1) if grey.shape[1] == 1 else grey
    return save_image_grid(path, rgb.permute(0, 2, 3, 1).numpy(), nrow=per_row)
