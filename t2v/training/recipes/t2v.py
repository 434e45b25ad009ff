"""T2V recipe: gist CVAE + Text2Filter video generator against a video-text discriminator (hybrid VAE+GAN)."""
from __future__ import annotations

from pathlib import Path

import torch

from ...data.format import BuiltDataset
from ...data.loader import CaptionedDataset
from ...errors import ConfigError
from ...losses import get_adversarial_loss, gradient_penalty, r1_penalty, weighted_l1
from ...losses.vae import kl_normal, kl_normal_std
from ...models.t2v import T2VGenerator, T2VModelConfig, VideoTextDiscriminator
from ...text import build_text_encoder, build_text_processor
from ..aux import AuxLabelsMixin
from ..data import ensure_dataset
from ..recipe import Recipe


class T2VRecipe(AuxLabelsMixin, Recipe):
    model_config = T2VModelConfig
    ema_nets = ("G",)
    generator_class: type = T2VGenerator  # both built as cls(model_config, text_encoder); TFGAN swaps them
    discriminator_class: type = VideoTextDiscriminator

    def build_dataset(self) -> torch.utils.data.Dataset:
        self.cfg.model.check()  # before the data: a bad model.* value is reported by its config key
        path = ensure_dataset(self.cfg.data, self.accelerator)
        self.data = BuiltDataset(path)
        m, shape = self.cfg.model, tuple(self.data.meta["item_shape"])
        if self.data.kind != "video" or shape[:3] != (m.frames, m.size, m.size):
            raise ConfigError(
                f"model expects {m.frames}x{m.size}x{m.size} clips but {path} holds {self.data.kind} items of shape "
                f"{list(shape)}; set model.frames / model.size or rebuild the data"
            )
        return CaptionedDataset(self.data, split=self.cfg.data.split, mismatched=True, seed=self.cfg.train.seed,
                                defer_pixels=True,  # the trainer reads the pixels (CaptionedDataset.load_pixels)
                                hard_negatives=m.mismatch_hard)

    def build(self, dataset: torch.utils.data.Dataset) -> None:
        m, t = self.cfg.model, self.cfg.text
        captions = [c for i in self.data.indices(self.cfg.data.split) for c in self.data.items[i]["captions"]]
        self.processor = build_text_processor(t, captions)
        self.loss = get_adversarial_loss(m.loss)
        G = self.generator_class(m, build_text_encoder(t, self.processor))
        aux = self._aux_classes()
        D = self.discriminator_class(m, build_text_encoder(t, self.processor), **({"aux_classes": aux} if aux else {}))
        betas = tuple(m.betas)
        self.nets = {"G": G, "D": D}
        self.opts = {
            "G": torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr=m.lr_g, betas=betas),
            "D": torch.optim.Adam([p for p in D.parameters() if p.requires_grad], lr=m.lr_d, betas=betas),
        }
        known = [p for p in self.cfg.train.sample_prompts if len(self.processor.unknown_words(p)) < len(p.split())]
        self.preview_prompts = known or self._default_prompts()

    def _default_prompts(self) -> list[str]:
        heldout = self.data.indices("heldout") if "heldout" in self.data.meta.get("splits", {}) else []
        seen = self.data.indices(self.cfg.data.split)
        picks = [self.data.items[int(i)]["captions"][0] for i in list(heldout[:2]) + list(seen[:2])]
        return list(dict.fromkeys(picks))

    def _text(self, captions: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.processor(list(captions))
        return ids.to(device), mask.to(device)

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        m = self.cfg.model
        G, D = self.nets["G"], self.nets["D"]
        real = batch["pixels"]
        ids, mask = self._text(batch["caption"], real.device)
        mis_ids, mis_mask = self._text(batch["mismatched_caption"], real.device)
        first = real[:, :, 0]

        # one batched G pass: clips from the text prior (what sampling does) and from q(z | text, frame)
        out = G(ids, mask, first_frame=first)
        fake = out["video"]

        # --- discriminator: real+matched -> real; fake+matched and real+mismatched -> fake
        r1_step = m.r1_gamma > 0 and step % m.r1_every == 0
        real_in = real.detach().requires_grad_(r1_step)
        use_aux = bool(m.aux_labels)
        adc = self.adc_on(step)  # ADC-GAN's terms on generated items (model.aux_mode adc)
        d_real = D(real_in, ids, mask, aux=use_aux)
        if use_aux:  # AC-GAN: D's text-free heads learn the labels from real clips
            labels = batch["labels"].to(real.device)
            d_real, aux_real = d_real
        d_fake = D(fake.detach(), ids, mask, aux=adc)
        if adc:  # ADC-GAN: the heads also learn "generated clip of class k"
            d_fake, aux_gen = d_fake
        d_mis = D(real, mis_ids, mis_mask)
        w = m.mismatch_weight
        loss_d = self.loss.d_real(d_real) + (1 - w) * self.loss.d_fake(d_fake) + w * self.loss.d_fake(d_mis)
        logs = {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
        if use_aux:
            loss_d = loss_d + self._aux_term(aux_real, labels, logs, real=True)
            if adc:
                loss_d = loss_d + self._aux_generated_term(aux_gen, labels, logs)
        if self.loss.gp_weight:
            gp = gradient_penalty(lambda x: D(x, ids, mask), real, fake)
            loss_d = loss_d + self.loss.gp_weight * gp
            logs["gp"] = gp.detach()
        if r1_step:
            r1 = r1_penalty(d_real, real_in)
            loss_d = loss_d + m.r1_gamma * m.r1_every * r1
            logs["r1"] = r1.detach()
        self.update("D", loss_d, self.loss.weight_clip)
        logs["loss_d"] = loss_d.detach()
        if step % max(m.n_critic, self.loss.n_critic) != 0:
            return logs

        # --- generator: fool D + CVAE (gist recon, KL) + clip reconstruction from the posterior + mask penalty
        with self.frozen(D):  # through the unwrapped D: no DDP reduction for a network that is not updated here
            judged = self.unwrap("D")(fake, ids, mask, aux=use_aux)
        if use_aux:  # ... and make the clips read as their caption's labels
            judged, aux_fake = judged
            aux_g = self._aux_term(aux_fake, labels, logs, real=False, adc=adc)
        adv = self.loss.g(judged)
        if m.prior == "text":
            kl = kl_normal(out["mu"], out["logvar"], out["prior_mu"], out["prior_logvar"])
        else:
            kl = kl_normal_std(out["mu"], out["logvar"])
        kl_w = m.kl_weight * min(1.0, (step + 1) / max(m.kl_warmup, 1))
        gist_rec = weighted_l1(out["post_gist"], first, m.fg_weight, m.fg_threshold)
        rec = weighted_l1(out["post_video"], real, m.fg_weight, m.fg_threshold)
        loss_g = m.adv_weight * adv + kl_w * kl + m.gist_weight * gist_rec + m.recon_weight * rec
        if use_aux:
            loss_g = loss_g + aux_g
        if "mask" in out:
            mask_l1 = 0.5 * (out["mask"].mean() + out["post_mask"].mean())
            loss_g = loss_g + m.mask_weight * mask_l1
            logs["mask"] = mask_l1.detach()
        self.update("G", loss_g)
        logs.update(loss_g=loss_g.detach(), adv=adv.detach(), kl=kl.detach(), gist_l1=gist_rec.detach(), rec_l1=rec.detach())
        return logs

    def _pipeline(self, nets):
        from ...pipelines.t2v import TextToVideoPipeline

        return TextToVideoPipeline(nets["G"], self.processor, self.cfg, fps=int(self.data.meta.get("fps", 8)))

    def preview(self, nets, step: int, out_dir: Path) -> list[Path]:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown words were reported when the prompts were chosen
            out = self._pipeline(nets)(self.preview_prompts, num_samples=2, seed=0)
        out_dir.mkdir(parents=True, exist_ok=True)
        return [out.save_grid(out_dir / f"step_{step:08d}.png"), *out.save(out_dir / f"step_{step:08d}.mp4")]

    def export(self, nets, out_dir: Path) -> Path:
        return self._pipeline(nets).save_pretrained(out_dir, dtype=self.cfg.train.export_dtype)
