"""ADDA recipe (Tzeng et al. 2017): two phases inside one run of the trainer.

Steps [0, pretrain_steps): the source encoder and the classifier learn the labelled source domain (cross-entropy).
At step pretrain_steps the target encoder starts as a copy of the source encoder; from then on it is trained against
a domain discriminator with the inverted-label GAN loss while the source encoder and the classifier stay fixed
(source features are computed without gradients). D sees encoder features, or with `model.adapt: logits` the fixed
classifier's logits of them (the classifier's dropout is not applied there). Both adversarial updates use the same
forward pass, as the paper's simultaneous updates. Target labels are never used in training; previews report
accuracies for monitoring. One run (rather than two recipes) keeps a single config, checkpoint series, resume and
export.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ...data.domains import UnpairedDataset
from ...data.format import BuiltDataset
from ...errors import ConfigError
from ...losses import get_adversarial_loss
from ...models.adda import ADDAClassifier, ADDAModelConfig, DomainDiscriminator
from ..data import ensure_dataset
from ..recipe import Recipe


class ADDARecipe(Recipe):
    model_config = ADDAModelConfig

    def build_dataset(self) -> torch.utils.data.Dataset:
        m = self.cfg.model
        m.check()
        self.data = BuiltDataset(ensure_dataset(self.cfg.data, self.accelerator))
        if m.label not in self.data.label_names:
            raise ConfigError(f"model.label {m.label!r} is not a label of {self.data.path} ({self.data.label_names})")
        classes = len(self.data.label_vocab(m.label))
        if classes != m.num_classes:
            raise ConfigError(f"{self.data.path} has {classes} {m.label!r} classes; set model.num_classes: {classes}")
        h, w = self.data.item_shape[-3:-1]
        if (h, w) != (m.size, m.size):
            raise ConfigError(f"{self.data.path} holds {h}x{w} images; set model.size: {h} (square images only)")
        return UnpairedDataset(self.data, m.source, m.target, split=self.cfg.data.split, seed=self.cfg.train.seed)

    def build(self, dataset: torch.utils.data.Dataset) -> None:
        m = self.cfg.model
        self.loss = get_adversarial_loss(m.loss)
        self.label_col = self.data.label_names.index(m.label)
        parts = ADDAClassifier(m)
        self.nets = {"source_encoder": parts.source_encoder, "classifier": parts.classifier,
                     "target_encoder": parts.target_encoder, "D": DomainDiscriminator(m)}
        betas = tuple(m.betas)
        source = [*parts.source_encoder.parameters(), *parts.classifier.parameters()]
        self.opts = {"source": torch.optim.Adam(source, lr=m.pretrain_lr, betas=betas),
                     "target": torch.optim.Adam(parts.target_encoder.parameters(), lr=m.lr, betas=betas),
                     "D": torch.optim.Adam(self.nets["D"].parameters(), lr=m.lr, betas=betas)}

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        m = self.cfg.model
        if step < m.pretrain_steps:
            y = batch["label_A"][:, self.label_col]
            logits = self.nets["classifier"](self.nets["source_encoder"](batch["A"]))
            loss = F.cross_entropy(logits, y, ignore_index=-1)
            self.update("source", loss)
            return {"loss_cls": loss.detach(), "acc_source": (logits.argmax(1) == y).float().mean().detach()}
        if step == m.pretrain_steps:
            self.unwrap("target_encoder").load_state_dict(self.unwrap("source_encoder").state_dict())
        head = self.unwrap("classifier")[-1] if m.adapt == "logits" else torch.nn.Identity()
        with torch.no_grad():
            src = head(self.nets["source_encoder"](batch["A"]))
        D = self.unwrap("D")
        with self.frozen(D, head):  # target encoder: make D call target features "source"
            tgt = head(self.nets["target_encoder"](batch["B"]))
            loss_t = self.loss.g(D(tgt))
        self.update("target", loss_t)
        d_src, d_tgt = self.nets["D"](torch.cat([src, tgt.detach()])).split(len(src))
        loss_d = self.loss.d_real(d_src) + self.loss.d_fake(d_tgt)
        self.update("D", loss_d)
        d_acc = 0.5 * ((d_src > 0).float().mean() + (d_tgt < 0).float().mean())
        return {"loss_target": loss_t.detach(), "loss_d": loss_d.detach(), "d_accuracy": d_acc.detach()}

    def _model(self, nets) -> ADDAClassifier:
        with torch.random.fork_rng():  # building it must not move the training run's random stream
            model = ADDAClassifier(self.cfg.model)
        for name in ("source_encoder", "target_encoder", "classifier"):
            getattr(model, name).load_state_dict(nets[name].state_dict())
        return model

    def preview(self, nets, step: int, out_dir: Path) -> list[Path]:
        """Accuracies (monitoring only) on the evaluation split: source domain, target via both encoders."""
        from ...evaluation.adda import domain_accuracy

        m = self.cfg.model
        split = next((s for s in ("test", "val") if s in self.data.meta.get("splits", {})), self.cfg.data.split)
        model = self._model(nets).to(next(nets["classifier"].parameters()).device)
        result = {"step": step, "split": split,
                  "source_domain": domain_accuracy(model, self.data, m.source, split, "source"),
                  "target_source_only": domain_accuracy(model, self.data, m.target, split, "source"),
                  "target_adapted": domain_accuracy(model, self.data, m.target, split, "target")}
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"step_{step:08d}.json"
        path.write_text(json.dumps(result) + "\n")
        return [path]

    def export(self, nets, out_dir: Path) -> Path:
        dtype = torch.float16 if self.cfg.train.export_dtype == "float16" else None
        return self._model(nets).save_pretrained(out_dir, dtype)
