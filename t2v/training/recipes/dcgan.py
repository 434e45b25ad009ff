"""DCGAN recipe: plain DCGAN (Radford et al. 2016) or text-to-image GAN-CLS / GAN-INT (Reed et al. 2016).

D step: real image + right caption -> real; fake image + right caption -> fake; with GAN-CLS also real image +
wrong caption -> fake, the two fake terms averaged (Reed et al., Algorithm 1). G step: fool D on its fakes; with
GAN-INT also on images generated from interpolated captions beta * t1 + (1 - beta) * t2 (scored by D against the
same interpolation); with model.mode_seeking, also the MSGAN term on a second batch from the same captions and new
noise (Mao et al. 2019), against the conditional generator's habit of ignoring z; with model.text_contrastive, a
cross-entropy over D's scores of each generated image against the distinct captions of its batch (or, with
model.text_contrastive_captions: all, every training caption), its own the target (D's caption term must pick G's
image's caption out of the others; captions a training item shares with it are not counted as others). With
model.aux_labels, AC-GAN heads on D's text-free trunk learn the dataset's labels from the real images (D step) and
G's images must read as their caption's labels to them (G step). Objective by name from the t2v.losses catalogue
(n_critic, clipping, gradient penalty honoured).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ...data.format import BuiltDataset
from ...data.loader import CaptionedDataset
from ...errors import ConfigError
from ...losses import AdversarialLoss, get_adversarial_loss, gradient_penalty, mode_seeking_loss
from ...models.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANModelConfig
from ...text import build_text_encoder, build_text_processor
from ..aux import AuxLabelsMixin
from ..data import ensure_dataset
from ..ema import recompute_batchnorm
from ..recipe import Recipe, linear_decay

PREVIEW_SAMPLES = 8  # images per preview prompt (one grid row each)
STANDING_STATS_BATCHES = 16  # batches of training captions + noise that re-estimate the EMA generator's BatchNorm


def discriminator_loss(loss: AdversarialLoss, d_real: torch.Tensor, d_fake: torch.Tensor,
                       d_wrong: torch.Tensor | None = None) -> torch.Tensor:
    """D's objective on real / fake logits; GAN-CLS (with `d_wrong`, real images + wrong captions) averages the two
    "fake" terms, as Reed et al.'s L_D = log s_r + (log(1 - s_w) + log(1 - s_f)) / 2."""
    if d_wrong is None:
        return loss.d_real(d_real) + loss.d_fake(d_fake)
    return loss.d_real(d_real) + 0.5 * (loss.d_fake(d_wrong) + loss.d_fake(d_fake))


def caption_scores(D: torch.nn.Module, x: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, aux: bool = False):
    """D's logits of every image in `x` [B] against every caption in `ids` / `mask` [U], as float [B, U] (D's trunk
    runs once); with `aux`, also the heads' outputs on the B images."""
    b, u = len(x), len(ids)
    out = D(x, ids.repeat_interleave(b, 0), mask.repeat_interleave(b, 0), aux=aux)  # caption j scored in block j
    logits, heads = out if aux else (out, None)
    scores = logits.float().view(u, b).t()
    return (scores, heads) if aux else scores


class DCGANRecipe(AuxLabelsMixin, Recipe):
    model_config = DCGANModelConfig
    ema_nets = ("G",)

    def build_dataset(self) -> torch.utils.data.Dataset:
        m = self.cfg.model
        m.check()  # before the data: a bad model.* value is reported by its config key, not by the loader
        path = ensure_dataset(self.cfg.data, self.accelerator)
        self.data = BuiltDataset(path)
        shape = tuple(self.data.meta["item_shape"])
        if shape != (m.size, m.size, 3):
            hint = f"make stills with `python datasets/frames.py --from {path} --out DIR`" if self.data.kind == "video" \
                else "set model.size to the images' size"
            raise ConfigError(f"model expects {m.size}x{m.size} images but {path} holds {self.data.kind} items of "
                              f"shape {list(shape)}; {hint}")
        ds = CaptionedDataset(self.data, split=self.cfg.data.split, mismatched=m.conditional and m.cls,
                              seed=self.cfg.train.seed, defer_pixels=True,  # the trainer reads the pixels
                              hard_negatives=m.cls_hard_negatives)  # check() allows it with GAN-CLS only
        if m.conditional and not ds.num_captions.any():
            raise ConfigError(f"{path} has no captions; train a plain DCGAN with model.conditional=false")
        return ds

    def build(self, dataset: torch.utils.data.Dataset | None) -> None:
        m, t = self.cfg.model, self.cfg.text
        self.loss = get_adversarial_loss(m.loss)
        self.processor = None
        if m.conditional:
            self.captions = [c for i in self.data.indices(self.cfg.data.split) for c in self.data.items[i]["captions"]]
            self.processor = build_text_processor(t, self.captions)
        self.caption_lists: dict[str, set[int]] = {}
        if m.text_contrastive:
            # caption -> the caption lists (items that share every caption) it belongs to; two captions of one item
            # (paraphrases, or one that leaves out a label the other states) are never told apart
            lists: dict[tuple[str, ...], int] = {}
            for i in self.data.indices(self.cfg.data.split):
                key = lists.setdefault(tuple(self.data.items[i]["captions"]), len(lists))
                for c in self.data.items[i]["captions"]:
                    self.caption_lists.setdefault(c, set()).add(key)
        self.caption_bank: list[str] = []
        if m.text_contrastive and m.text_contrastive_captions == "all":  # every distinct training caption
            self.caption_bank = list(self.caption_lists)
            self.bank_index = {c: i for i, c in enumerate(self.caption_bank)}
            self.bank_compatible = self._compatible(self.caption_bank, self.caption_bank)  # [U, U], once
            self.bank_text = self.processor(self.caption_bank)  # tokenized once, not at every G step
        encoders = [build_text_encoder(t, self.processor) if m.conditional else None for _ in range(2)]
        G, D = DCGANGenerator(m, encoders[0]), DCGANDiscriminator(m, encoders[1], self._aux_classes())
        if m.channels_last:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        self.nets = {"G": G, "D": D}
        self.opts = {"G": self._optimizer(G, m.lr_g), "D": self._optimizer(D, m.lr_d)}
        if m.lr_decay_start < 1.0:  # no schedulers otherwise, so that a constant-lr run's checkpoints stay as they were
            factor = linear_decay(self.cfg.train.max_steps, m.lr_decay_start)
            self.scheds = {k: torch.optim.lr_scheduler.LambdaLR(opt, factor) for k, opt in self.opts.items()}
        self.preview_prompts = self._preview_prompts() if m.conditional else []

    def _optimizer(self, net: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        """Adam (as DCGAN) in the configured implementation, or the optimiser the objective's paper uses (RMSprop)."""
        m = self.cfg.model
        params = [p for p in net.parameters() if p.requires_grad]
        if self.loss.optimizer.name != "adam":
            return self.loss.optimizer.build(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=tuple(m.betas), fused=m.adam == "fused",
                                foreach=m.adam == "foreach")

    def _preview_prompts(self) -> list[str]:
        """train.sample_prompts with a known word, else the first caption of each held-out combination and of a few
        training ones."""
        known = [p for p in self.cfg.train.sample_prompts if len(self.processor.unknown_words(p)) < len(p.split())]
        if known:
            return known
        from ...evaluation.metrics import caption_groups

        splits = [s for s in ("heldout", self.cfg.data.split) if self.data.meta.get("splits", {}).get(s)]
        groups = [g["caption"] for s in splits for g in caption_groups(self.data, s, self.data.label_names)[:5]]
        return list(dict.fromkeys(groups))

    def _text(self, captions: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.processor(list(captions))
        return ids.to(device), mask.to(device)

    def _compatible(self, distinct: list[str], captions: list[str]) -> torch.Tensor:
        """bool [len(captions), len(distinct)]: caption j is another caption of some item that has caption i, so not
        a wrong caption for an image of caption i (its own caption is not marked)."""
        lists = [self.caption_lists.get(d, set()) for d in distinct]
        return torch.tensor([[c != d and bool(lists[j] & self.caption_lists.get(c, set()))
                              for j, d in enumerate(distinct)] for c in captions])

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        m, loss = self.cfg.model, self.loss
        G, D = self.nets["G"], self.nets["D"]
        real = batch["pixels"]
        if m.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        b = real.shape[0]
        cls = m.conditional and m.cls
        ids = mask = all_ids = all_mask = None
        if m.conditional:  # one tokenizer call: right captions, then (GAN-CLS) the wrong ones
            all_ids, all_mask = self._text(batch["caption"] + (batch["mismatched_caption"] if cls else []), real.device)
            ids, mask = all_ids[:b], all_mask[:b]
        z = torch.randn(b, m.z_dim, device=real.device)
        fake = G(z, ids, mask)

        # --- discriminator
        d_wrong = None
        use_aux = bool(m.aux_labels)
        adc = self.adc_on(step)  # ADC-GAN's terms on generated items (model.aux_mode adc)
        if cls:  # the trunk runs once on the real batch, scored against its right and its wrong captions
            d_real = D(real, all_ids, all_mask, aux=use_aux)
        else:
            d_real = D(real, ids, mask, aux=use_aux)
        if use_aux:
            d_real, aux_real = d_real
            labels = batch["labels"].to(real.device)
        if cls:
            d_real, d_wrong = d_real.split(b)
        d_fake = D(fake.detach(), ids, mask, aux=adc)
        if adc:  # ADC-GAN: the heads also learn "generated image of class k"
            d_fake, aux_gen = d_fake
        loss_d = discriminator_loss(loss, d_real, d_fake, d_wrong)
        logs = {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
        if d_wrong is not None:
            logs["d_wrong"] = d_wrong.mean().detach()
        if use_aux:  # AC-GAN: D's text-free heads learn the labels from the real images
            loss_d = loss_d + self._aux_term(aux_real, labels, logs, real=True)
            if adc:
                loss_d = loss_d + self._aux_generated_term(aux_gen, labels, logs)
        if loss.gp_weight:
            gp = gradient_penalty(lambda x: D(x, ids, mask), real, fake)
            loss_d = loss_d + loss.gp_weight * gp
            logs["gp"] = gp.detach()
        self.update("D", loss_d, loss.weight_clip)
        logs["loss_d"] = loss_d.detach()
        if step % loss.n_critic != 0:
            return logs

        # --- generator (through the unwrapped, frozen D: no weight gradients and no DDP reduction for it)
        with self.frozen(D):
            D_ = self.unwrap("D")
            contrast = m.text_contrastive > 0 and step >= m.text_contrastive_start
            if contrast:  # the trunk runs once, each image scored against every candidate caption
                if self.caption_bank:
                    own = torch.tensor([self.bank_index[c] for c in batch["caption"]])
                    compatible = self.bank_compatible[own]
                    text = [t.to(real.device) for t in self.bank_text]
                else:
                    distinct = list(dict.fromkeys(batch["caption"]))
                    own = torch.tensor([distinct.index(c) for c in batch["caption"]])
                    compatible = self._compatible(distinct, batch["caption"])
                    text = self._text(distinct, real.device)
                own = own.to(real.device)
                scores = caption_scores(D_, fake, *text, aux=use_aux)
                if use_aux:
                    scores, aux_fake = scores
                judged = scores.gather(1, own[:, None]).squeeze(1)  # each image against its own caption
                scores = scores.masked_fill(compatible.to(real.device), float("-inf"))
                nce = F.cross_entropy(scores, own)
                logs.update(text_nce=nce.detach(), text_acc=(scores.argmax(1) == own).float().mean())
            else:
                judged = D_(fake, ids, mask, aux=use_aux)
                if use_aux:  # ... and G's images must read as their caption's labels
                    judged, aux_fake = judged
            adv = loss.g(judged)
            loss_g = adv + self._aux_term(aux_fake, labels, logs, real=False, adc=adc) if use_aux else adv
            if m.conditional and m.int_weight > 0:
                z_int = torch.randn(b, m.z_dim, device=real.device)
                adv_int = loss.g(D_(G(z_int, ids, mask, beta=m.int_beta), ids, mask, beta=m.int_beta))
                loss_g = loss_g + m.int_weight * adv_int
                logs["adv_int"] = adv_int.detach()
            if contrast:
                loss_g = loss_g + m.text_contrastive * nce
            if m.mode_seeking > 0:  # same captions, new noise: G must not map both to the same image
                z2 = torch.randn(b, m.z_dim, device=real.device)
                ms = mode_seeking_loss(fake, G(z2, ids, mask), z, z2)
                loss_g = loss_g + m.mode_seeking * ms
                logs["mode_seeking"] = ms.detach()
            self.update("G", loss_g)
        logs.update(loss_g=loss_g.detach(), adv=adv.detach())
        return logs

    def _pipeline(self, nets):
        from ...pipelines.image import TextToImagePipeline

        if self.cfg.train.ema_decay > 0:  # nets["G"] holds averaged weights but the live G's BatchNorm statistics
            self._standing_stats(nets["G"])
        return TextToImagePipeline(nets["G"], self.processor, self.cfg, nets["D"])

    def _standing_stats(self, G: torch.nn.Module) -> None:
        """Re-estimate G's BatchNorm statistics on training-like batches (random training captions, fresh noise);
        the same seed every time, so an export is reproducible."""
        import random

        m, b = self.cfg.model, self.cfg.data.batch_size
        device = next(G.parameters()).device
        noise, pick = torch.Generator().manual_seed(self.cfg.train.seed), random.Random(self.cfg.train.seed)

        def forward() -> None:
            z = torch.randn(b, m.z_dim, generator=noise).to(device)
            ids = mask = None
            if m.conditional:
                ids, mask = self._text([pick.choice(self.captions) for _ in range(b)], device)
            G(z, ids, mask)

        recompute_batchnorm(G, forward, STANDING_STATS_BATCHES)

    def preview(self, nets, step: int, out_dir: Path) -> list[Path]:
        """A grid: one row of samples per preview prompt (8 rows of 8 unconditional samples)."""
        import warnings

        pipe = self._pipeline(nets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown words were reported when the prompts were chosen
            out = pipe(self.preview_prompts or ["sample"], num_samples=PREVIEW_SAMPLES * (1 if self.preview_prompts
                                                                                          else 8), seed=0)
        return [out.save_grid(out_dir / f"step_{step:08d}.png", nrow=PREVIEW_SAMPLES)]

    def export(self, nets, out_dir: Path) -> Path:
        return self._pipeline(nets).save_pretrained(out_dir, dtype=self.cfg.train.export_dtype)
