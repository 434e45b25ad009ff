"""AC-GAN heads (Odena et al. 2017) shared by the recipes whose discriminator has them (model.aux_labels): which
label columns they read and their loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError


class AuxLabelsMixin:
    """For a Recipe with `self.data` (a BuiltDataset) and `self.cfg.model.aux_labels`."""

    def _aux_classes(self) -> dict[str, int]:
        """{label: number of values} for model.aux_labels (AC-GAN heads of D); their columns in batch["labels"]."""
        wanted = list(getattr(self.cfg.model, "aux_labels", []) or [])
        names = self.data.label_names
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ConfigError(f"model.aux_labels: {', '.join(missing)} not among the dataset's labels "
                              f"({', '.join(names) or 'it has none'})")
        self.aux_columns = [names.index(n) for n in wanted]
        return {n: len(self.data.label_vocab(n)) for n in wanted}

    def _aux_loss(self, logits: dict[str, torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over the aux labels (items without a value skipped) and the share of items whose every
        known aux label is read right."""
        loss, right = 0.0, torch.ones(labels.shape[0], dtype=torch.bool, device=labels.device)
        for name, col in zip(logits, self.aux_columns):
            target = labels[:, col]
            known = target >= 0
            loss = loss + F.cross_entropy(logits[name].float(), target.clamp(min=0), reduction="none")[known].sum() \
                / known.sum().clamp(min=1)
            right &= (logits[name].argmax(1) == target) | ~known
        return loss / len(logits), right.float().mean()

    def _aux_term(self, logits: dict[str, torch.Tensor], labels: torch.Tensor, logs: dict[str, torch.Tensor],
                  real: bool) -> torch.Tensor:
        """model.aux_weight times the heads' loss, for D's objective on real items (`real`, logged as aux_d and
        aux_real_acc) or G's on its own (aux_g, aux_fake_acc)."""
        loss, acc = self._aux_loss(logits, labels)
        side, kind = ("d", "real") if real else ("g", "fake")
        logs.update({f"aux_{side}": loss.detach(), f"aux_{kind}_acc": acc})
        return self.cfg.model.aux_weight * loss
