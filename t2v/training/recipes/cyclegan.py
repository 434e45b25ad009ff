"""CycleGAN recipe (Zhu et al. 2017): G_AB, G_BA against PatchGANs D_A, D_B with cycle and identity losses.

One step follows the reference `optimize_parameters`: translate both ways, update both generators (adversarial +
λ·cycle + λ·λ_idt·identity, discriminators frozen), then update both discriminators on real images and on fakes drawn
from the history pools. Instance norm is per-sample, so images that pass through the same net are batched (real A
and real B through G_AB: translation + identity; real and pooled fake through D) with unchanged results.
Learning rate: constant, then linear decay to zero from `lr_decay_start` of the run. The pools are registered with
accelerate, so checkpoints carry them and a resumed run continues with the same pools and optimiser moments.

With `model.distractors > 0` training images get flat shapes pasted on them (`paint_distractors`) and the
generators pay λ·distractor_weight·L1(output, input) on those shapes: they pass through, whatever their colour.

With `model.semantic_weight > 0` the generators also pay CyCADA's semantic consistency loss (Hoffman et al. 2018):
a LeNet f is trained on domain A's labels before the first step (its own seeded draws, so a resumed run rebuilds the
same f; the checkpoint holds it too) and frozen; a translation must keep f's reading of its input,
CE(f(G_AB(a)), argmax f(a)) + CE(f(G_BA(b)), argmax f(b)). Domain B's labels are never used. f may first learn to
read B as well: `semantic_augment` varies A's images, `semantic_adapt_steps` self-trains f on B's unlabelled images
(t2v.training.semantic). Then `semantic_target_steps` trains a classifier f_B of B alone, on B's images as f labels
them, and `semantic_source_steps` one of A alone, f_A, on A's labelled images: each reads the translations into its
domain in f's place, CE(f_B(G_AB(a)), argmax f(a)) + CE(f_A(G_BA(b)), argmax f(b)); with `semantic_readers` > 1
each reader is an ensemble of LeNets and the term averages their cross-entropies, so every one must read the class.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...data.domains import UnpairedDataset, _DomainImages, select_items
from ...data.format import BuiltDataset
from ...errors import ConfigError
from ...losses import get_adversarial_loss
from ...models.adda import ADDAModelConfig, LeNetEncoder
from ...models.cyclegan import CycleGANModelConfig, ImagePool, PatchDiscriminator, ResnetGenerator
from ..data import ensure_dataset
from ..recipe import Recipe, linear_decay
from ..semantic import fit_classifier, labelled_by, train_semantic_classifier


def make_adam(params, lr: float, betas: list[float], impl: str) -> torch.optim.Adam:
    """Adam with the chosen implementation: foreach (multi-tensor), fused, or the single-tensor loop."""
    kind = {"foreach": {"foreach": True}, "fused": {"fused": True}, "single_tensor": {"foreach": False}}[impl]
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), **kind)


def passthrough_l1(out: torch.Tensor, inp: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """The L1 between `out` and `inp` where `cover` [N, 1, H, W] marks the pixels (weighted by it), averaged over
    all pixels as the cycle and identity L1s are: a shape's change costs in proportion to its area."""
    return ((out - inp).abs() * cover).mean()


class ReaderEnsemble(nn.Module):
    """Several frozen classifiers read one batch: logits [members, N, classes]."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members])


def reading_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of one classifier's logits [N, K], or the mean over an ensemble's [M, N, K]: every member must
    read the target."""
    if logits.dim() == 3:
        return F.cross_entropy(logits.flatten(0, 1), target.repeat(logits.shape[0]))
    return F.cross_entropy(logits, target)


class CycleGANRecipe(Recipe):
    model_config = CycleGANModelConfig

    def build_dataset(self) -> torch.utils.data.Dataset:
        m = self.cfg.model
        m.check()
        self.data = BuiltDataset(ensure_dataset(self.cfg.data, self.accelerator))
        self.dataset = UnpairedDataset(self.data, m.domain_a, m.domain_b, split=self.cfg.data.split,
                                       load_size=m.load_size, crop_size=m.crop_size, flip=m.flip,
                                       seed=self.cfg.train.seed, distractors=m.distractors,
                                       distractor_count=m.distractor_count)
        return self.dataset

    def build(self, dataset: torch.utils.data.Dataset) -> None:
        m = self.cfg.model
        self.loss = get_adversarial_loss(m.loss)
        if self.loss.n_critic != 1:
            raise ConfigError(f"cyclegan alternates one generator and one discriminator step; loss {m.loss!r} wants "
                              f"{self.loss.n_critic} critic steps: choose lsgan (the paper's), non_saturating, "
                              "minimax, hinge or an fgan_* objective")
        g = m.generator
        g_ba = dataclasses.replace(g, in_channels=g.out_channels, out_channels=g.in_channels)
        d_a = dataclasses.replace(m.discriminator, in_channels=g.in_channels)
        d_b = dataclasses.replace(m.discriminator, in_channels=g.out_channels)
        self.nets = {"G_AB": ResnetGenerator(g), "G_BA": ResnetGenerator(g_ba),
                     "D_A": PatchDiscriminator(d_a), "D_B": PatchDiscriminator(d_b)}
        self.memory_format = torch.channels_last if m.channels_last else torch.contiguous_format
        for net in self.nets.values():
            net.to(memory_format=self.memory_format)
        G = [*self.nets["G_AB"].parameters(), *self.nets["G_BA"].parameters()]
        D = [*self.nets["D_A"].parameters(), *self.nets["D_B"].parameters()]
        self.opts = {"G": make_adam(G, m.lr, m.betas, m.adam), "D": make_adam(D, m.lr, m.betas, m.adam)}
        factor = linear_decay(self.cfg.train.max_steps, m.lr_decay_start)
        self.scheds = {k: torch.optim.lr_scheduler.LambdaLR(opt, factor) for k, opt in self.opts.items()}
        self.pools = {"A": ImagePool(m.pool_size), "B": ImagePool(m.pool_size)}  # fakes of A (from G_BA), of B
        self.accelerator.register_for_checkpointing(self.pools["A"], self.pools["B"])
        self.semantic, self.readers = None, {}
        if m.semantic_weight > 0:
            self.semantic, self.readers = self._semantic_classifiers()
            for net in (self.semantic, *(r for r in self.readers.values() if r is not self.semantic)):
                self.accelerator.register_for_checkpointing(net)

    def _semantic_classifiers(self) -> tuple[nn.Module, dict[str, nn.Module]]:
        """CyCADA's f: a LeNet (ADDA's encoder + a linear layer) trained on training images of domain A and their
        `semantic_label` (then, optionally, self-trained on B's unlabelled images), then frozen; and the readers of
        the translations into A and into B: f, or with `semantic_source_steps` / `semantic_target_steps` a LeNet of
        that domain alone (A's labelled images; B's images as f labels them). Accuracies on the domains' val / test
        images are printed."""
        m, seed = self.cfg.model, self.cfg.train.seed
        if m.semantic_label not in self.data.label_names:
            raise ConfigError(f"model.semantic_label {m.semantic_label!r} is not a label of {self.data.path} "
                              f"({', '.join(self.data.label_names) or 'it has none'})")
        col = self.data.label_names.index(m.semantic_label)
        images = self.dataset.a
        # positions (item x frame) of A's training images that have a label
        known = np.flatnonzero(np.repeat(self.data.all_label_ids[images.items, col], images.frames) >= 0)
        if len(known) == 0:
            raise ConfigError(f"no training item of {m.domain_a} has a {m.semantic_label!r} label")
        rng = np.random.default_rng((seed, 5381))
        side = self.dataset.image(images, 0, rng).shape[-1]
        lenet = ADDAModelConfig(in_channels=m.generator.in_channels, size=side,
                                num_classes=len(self.data.label_vocab(m.semantic_label)))
        try:
            lenet.check()
        except ConfigError as e:
            raise ConfigError(f"model.semantic_weight: the classifier reads the {side}x{side} training images; "
                              f"{e}") from None
        device = self.accelerator.device

        def new_lenet(init_seed: int) -> nn.Module:
            with torch.random.fork_rng(devices=[]):  # must not move the random stream the run's nets were built from
                torch.manual_seed(init_seed)
                return nn.Sequential(LeNetEncoder(lenet), nn.Linear(lenet.feature_dim, lenet.num_classes)).to(device)

        f = new_lenet(seed)

        def labels_of(images: _DomainImages) -> np.ndarray:
            return self.data.all_label_ids[images.items, col]

        def batch(positions: np.ndarray, images: _DomainImages) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.stack([self.dataset.image(images, int(p), rng) for p in positions]).to(device)
            return x, torch.from_numpy(labels_of(images)[positions // images.frames]).to(device)

        def unlabelled(n: int) -> torch.Tensor:  # domain B's training images; their labels are not read
            b = self.dataset.b
            return torch.stack([self.dataset.image(b, int(p), rng) for p in rng.integers(len(b), size=n)]).to(device)

        def labelled(n: int) -> tuple[torch.Tensor, torch.Tensor]:  # domain A's labelled training images
            return batch(rng.choice(known, n), images)

        counts = np.bincount(labels_of(images)[known // images.frames], minlength=lenet.num_classes)
        log = train_semantic_classifier(
            f, labelled, unlabelled, steps=m.semantic_steps,
            adapt_steps=m.semantic_adapt_steps, lr=m.semantic_lr, prior=torch.from_numpy(counts / counts.sum()),
            gen=torch.Generator().manual_seed(seed * 1_000_003 + 5381), augment=m.semantic_augment,
            threshold=m.semantic_threshold)
        f.eval().requires_grad_(False)
        if m.semantic_adapt_steps:
            self.accelerator.print(f"semantic classifier f self-trained on {m.domain_b} for {m.semantic_adapt_steps} "
                                   f"steps: {log.confident:.0%} of its readings confident over the last steps")
        self._report_semantic(f, "f", batch, labels_of)
        readers = {"A": f, "B": f}
        for side, steps, batches, offset in (
                ("B", m.semantic_target_steps, labelled_by(f, unlabelled), 1),
                ("A", m.semantic_source_steps, labelled, 2)):
            if not steps:
                continue
            members, hits = [], []
            for j in range(m.semantic_readers):  # member j: its own initialisation and draws
                reader = new_lenet(seed + offset + 2 * j)
                hits.append(fit_classifier(reader, batches, steps=steps, lr=m.semantic_lr, gen=torch.Generator()
                                           .manual_seed(seed * 1_000_003 + 5381 + offset + 2 * j)))
                members.append(reader.eval().requires_grad_(False))
            readers[side] = members[0] if len(members) == 1 else ReaderEnsemble(members)
            domain = m.domain_b if side == "B" else m.domain_a
            source = "labelled by f" if side == "B" else f"and their {m.semantic_label} labels"
            self.accelerator.print(f"semantic classifier f_{side} ({len(members)} LeNet) trained on {domain}'s images "
                                   f"{source} for {steps} steps: {np.mean(hits):.0%} right on its last batch")
            self._report_semantic(readers[side], f"f_{side}", batch, labels_of)
        return f, readers

    def _report_semantic(self, f: nn.Module, name: str, batch, labels_of) -> None:
        """Print f's accuracy on up to 1,000 labelled images of each domain from the first of val / test it has (for
        domain B a report only: its labels train nothing)."""
        m = self.cfg.model
        for selector in (m.domain_a, m.domain_b):
            split = next((s for s in ("val", "test") if len(select_items(self.data, selector, s))), None)
            if split is None:
                continue
            images = _DomainImages(self.data, selector, split)
            known = np.flatnonzero(np.repeat(labels_of(images), images.frames) >= 0)
            if len(known) > 1000:
                known = known[np.linspace(0, len(known) - 1, 1000).round().astype(int)]
            if not len(known):
                continue
            hits = 0
            with torch.no_grad():
                for chunk in np.array_split(known, max(1, len(known) // 250)):
                    x, y = batch(chunk, images)
                    logits = f(x)
                    hits += int(((logits.mean(0) if logits.dim() == 3 else logits).argmax(1) == y).sum())
            self.accelerator.print(f"semantic classifier {name} ({m.semantic_label}): "
                                   f"{hits / len(known):.1%} on {len(known)} {split} images of {selector}")

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        m = self.cfg.model
        real_a = batch["A"].contiguous(memory_format=self.memory_format)
        real_b = batch["B"].contiguous(memory_format=self.memory_format)
        G_AB, G_BA = self.nets["G_AB"], self.nets["G_BA"]
        n = len(real_a)
        identity = m.lambda_identity > 0
        # G_AB translates A and (identity) maps B to itself in one pass; likewise G_BA
        out_b = G_AB(torch.cat([real_a, real_b]) if identity else real_a)
        out_a = G_BA(torch.cat([real_b, real_a]) if identity else real_b)
        fake_b, fake_a = out_b[:n], out_a[:n]
        rec_a, rec_b = G_BA(fake_b), G_AB(fake_a)

        # --- generators (discriminators frozen and unwrapped: no gradient reduction for nets not updated here)
        D_A, D_B = self.unwrap("D_A"), self.unwrap("D_B")
        with self.frozen(D_A, D_B):
            adv = self.loss.g(D_B(fake_b)) + self.loss.g(D_A(fake_a))
        cycle = F.l1_loss(rec_a, real_a) + F.l1_loss(rec_b, real_b)
        loss_g = m.adv_weight * adv + m.lambda_cycle * cycle
        logs = {"adv": adv.detach(), "cycle": cycle.detach()}
        if self.semantic is not None:  # f is frozen; its gradient reaches the generators only
            f, into = self.semantic, self.readers  # f reads the inputs; into[X] the translations into X
            with torch.no_grad():
                read_a, read_b = f(torch.cat([real_a, real_b])).argmax(1).split(n)
            sem = reading_loss(into["B"](fake_b), read_a) + reading_loss(into["A"](fake_a), read_b)
            loss_g = loss_g + m.semantic_weight * sem
            logs["semantic"] = sem.detach()
        if "keep_A" in batch and m.distractor_weight > 0:  # pasted shapes pass through both generators
            keep = passthrough_l1(fake_b, real_a, batch["keep_A"]) + passthrough_l1(fake_a, real_b, batch["keep_B"])
            loss_g = loss_g + m.lambda_cycle * m.distractor_weight * keep
            logs["distractors"] = keep.detach()
        if identity:
            idt = F.l1_loss(out_b[n:], real_b) + F.l1_loss(out_a[n:], real_a)
            loss_g = loss_g + m.lambda_cycle * m.lambda_identity * idt
            logs["identity"] = idt.detach()
        self.update("G", loss_g)

        # --- discriminators: real vs a fake from the history pool, real and fake in one pass per D
        loss_d = torch.zeros((), device=real_a.device)
        for name, real, fake in (("D_B", real_b, fake_b), ("D_A", real_a, fake_a)):
            D = self.nets[name]
            fake = self.pools[name[-1]].query(fake).contiguous(memory_format=self.memory_format)
            pred_real, pred_fake = D(torch.cat([real, fake])).split(n)
            term = self.loss.d_real(pred_real) + self.loss.d_fake(pred_fake)
            loss_d = loss_d + term
            logs[f"loss_{name}"] = term.detach()
        self.update("D", loss_d)
        logs.update(loss_g=loss_g.detach(), loss_d=loss_d.detach(), lr=torch.tensor(self.opts["G"].param_groups[0]["lr"]))
        return logs

    # --- preview / export ---------------------------------------------------------------------------------------
    def _preview_images(self, which: str) -> np.ndarray:
        """uint8 [k, H, W, 3]: evenly spaced images of a domain (from a non-training split when there is one)."""

        selector = self.cfg.model.domain_a if which == "A" else self.cfg.model.domain_b
        splits = [s for s in ("val", "test", self.cfg.data.split) if len(select_items(self.data, selector, s))]
        idx = select_items(self.data, selector, splits[0])
        pick = idx[np.linspace(0, len(idx) - 1, min(self.cfg.model.preview_images, len(idx))).round().astype(int)]
        px = np.asarray(self.data.pixels[pick])
        return px[:, px.shape[1] // 2] if self.data.kind == "video" else px  # middle frame of clips

    def _pipeline(self, nets):
        from ...pipelines.translate import ImageTranslationPipeline

        return ImageTranslationPipeline({"AtoB": nets["G_AB"], "BtoA": nets["G_BA"]}, self.cfg,
                                        fps=int(self.data.meta.get("fps", 8)))

    def preview(self, nets, step: int, out_dir: Path) -> list[Path]:
        """One PNG: rows real A, G_AB(A), G_BA(G_AB(A)), real B, G_BA(B), G_AB(G_BA(B)); with attention-guided
        generators each translation row is followed by its mask (white = generated, black = passed through)."""
        from ...data.video import save_image_grid

        pipe = self._pipeline(nets)
        attention = self.cfg.model.generator.attention
        reals = {which: self._preview_images(which) for which in ("A", "B")}
        k = min(len(r) for r in reals.values())
        rows = []
        for which, there, back in (("A", "AtoB", "BtoA"), ("B", "BtoA", "AtoB")):
            if attention:
                fake, mask = pipe.translate(reals[which][:k], there, return_mask=True)
                rows += [reals[which][:k], fake, np.repeat(mask[..., None], 3, axis=-1)]
            else:
                fake = pipe.translate(reals[which][:k], there)
                rows += [reals[which][:k], fake]
            rows.append(pipe.translate(fake, back))
        out_dir.mkdir(parents=True, exist_ok=True)
        return [save_image_grid(out_dir / f"step_{step:08d}.png", np.concatenate(rows), nrow=k)]

    def export(self, nets, out_dir: Path) -> Path:
        return self._pipeline(nets).save_pretrained(out_dir, dtype=self.cfg.train.export_dtype)
