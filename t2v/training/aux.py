"""AC-GAN heads (Odena et al. 2017) shared by the recipes whose discriminator has them (model.aux_labels): which
label columns they read and their loss.

model.aux_mode picks how the heads are trained:
- `ac` (AC-GAN as the T2V recipe uses it): K classes per label, learned from real items only; G's items must read
  as their caption's labels. G can satisfy such a head without drawing the label (it only ever saw real items).
- `adc` (ADC-GAN, Hou et al. 2022): 2K classes per label, "real item of class k" and "generated item of class k".
  D learns both from real and generated items, so the head keeps learning what tells G's "class k" from a real one;
  G pays -log C(real k) + log C(generated k).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError


class AuxLabelsMixin:
    """For a Recipe with `self.data` (a BuiltDataset) and `self.cfg.model.aux_labels`."""

    @property
    def aux_adc(self) -> bool:
        """True when the heads are ADC-GAN's (2K classes, also trained on generated items): model.aux_mode adc."""
        return bool(getattr(self.cfg.model, "aux_labels", None)) and getattr(self.cfg.model, "aux_mode", "ac") == "adc"

    def adc_on(self, step: int) -> bool:
        """Whether the adc terms on generated items (D's "generated class k", G's reward for not reading as one)
        apply at `step`: from model.aux_adc_start on. Before it the 2K-way heads learn from real items only, as ac
        (a head that tells G's first, black clips from real ones can hold G there)."""
        return self.aux_adc and step >= getattr(self.cfg.model, "aux_adc_start", 0)

    def _aux_classes(self) -> dict[str, int]:
        """{label: number of head outputs} for model.aux_labels (K values, 2K with aux_mode adc); their columns in
        batch["labels"] (self.aux_columns) and value counts (self.aux_values)."""
        wanted = list(getattr(self.cfg.model, "aux_labels", []) or [])
        names = self.data.label_names
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ConfigError(f"model.aux_labels: {', '.join(missing)} not among the dataset's labels "
                              f"({', '.join(names) or 'it has none'})")
        self.aux_columns = [names.index(n) for n in wanted]
        self.aux_values = {n: len(self.data.label_vocab(n)) for n in wanted}
        return {n: k * (2 if self.aux_adc else 1) for n, k in self.aux_values.items()}

    def _aux_loss(self, logits: dict[str, torch.Tensor], labels: torch.Tensor,
                  generated: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over the aux labels (items without a value skipped) and the share of items whose every
        known aux label is read right. `generated` (adc only) targets the "generated item of class k" outputs."""
        loss, right = 0.0, torch.ones(labels.shape[0], dtype=torch.bool, device=labels.device)
        for name, col in zip(logits, self.aux_columns):
            target = labels[:, col]
            known = target >= 0
            target = target.clamp(min=0) + (self.aux_values[name] if generated else 0)
            loss = loss + F.cross_entropy(logits[name].float(), target, reduction="none")[known].sum() \
                / known.sum().clamp(min=1)
            right &= (logits[name].argmax(1) == target) | ~known
        return loss / len(logits), right.float().mean()

    def _aux_term(self, logits: dict[str, torch.Tensor], labels: torch.Tensor, logs: dict[str, torch.Tensor],
                  real: bool, adc: bool = False) -> torch.Tensor:
        """model.aux_weight times the heads' loss, for D's objective on real items (`real`, logged as aux_d and
        aux_real_acc) or G's on its own (aux_g, aux_fake_acc: read as a real item of the caption's class). With
        `adc` (see adc_on), G's loss also rewards its items for not reading as generated ones: CE(real k) -
        CE(generated k)."""
        loss, acc = self._aux_loss(logits, labels)
        side, kind = ("d", "real") if real else ("g", "fake")
        if not real and adc:
            loss = loss - self._aux_loss(logits, labels, generated=True)[0]
        logs.update({f"aux_{side}": loss.detach(), f"aux_{kind}_acc": acc})
        return self.cfg.model.aux_weight * loss

    def _aux_generated_term(self, logits: dict[str, torch.Tensor], labels: torch.Tensor,
                            logs: dict[str, torch.Tensor]) -> torch.Tensor:
        """adc only: model.aux_weight times the heads' loss on G's (detached) items for D, whose targets are the
        "generated item of class k" outputs (logged as aux_d_gen and aux_gen_acc)."""
        loss, acc = self._aux_loss(logits, labels, generated=True)
        logs.update({"aux_d_gen": loss.detach(), "aux_gen_acc": acc})
        return self.cfg.model.aux_weight * loss
