"""TFGAN recipe: GRU-motion generator against text-filter frame and video discriminators, matched / mismatched
negatives, R1 on real clips. Data, preview and export are those of the T2V recipe (same text-to-video pipeline)."""
from __future__ import annotations

import torch

from ...losses import gradient_penalty, r1_penalty
from ...models.tfgan import TFGANDiscriminator, TFGANGenerator, TFGANModelConfig
from .t2v import T2VRecipe


class TFGANRecipe(T2VRecipe):
    model_config = TFGANModelConfig
    generator_class = TFGANGenerator
    discriminator_class = TFGANDiscriminator

    @staticmethod
    def _gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, text) -> torch.Tensor:
        """WGAN-GP on both critics: the video D's logit and the frame D's clip score (the mean over its frames)."""
        def frame_critic(x: torch.Tensor) -> torch.Tensor:
            return D(x, [text])[0][0].mean(1)

        def video_critic(x: torch.Tensor) -> torch.Tensor:
            return D(x, [text])[0][1]

        return gradient_penalty(frame_critic, real, fake) + gradient_penalty(video_critic, real, fake)

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        m, loss = self.cfg.model, self.loss
        G, D = self.nets["G"], self.nets["D"]
        real = batch["pixels"]
        text = self._text(batch["caption"], real.device)
        mismatched = self._text(batch["mismatched_caption"], real.device)
        g_step = step % max(m.n_critic, loss.n_critic) == 0
        with torch.set_grad_enabled(g_step):
            fake = G(*text)["video"]

        # --- discriminators: real+matched -> real; fake+matched and real+mismatched -> fake
        r1_step = m.r1_gamma > 0 and step % m.r1_every == 0
        real_in = real.detach().requires_grad_(r1_step)
        use_aux = bool(m.aux_labels)
        adc = self.adc_on(step)  # ADC-GAN's terms on generated items (model.aux_mode adc)
        judged = D(real_in, [text, mismatched], aux=use_aux)
        if use_aux:  # AC-GAN: the text-free heads of D learn the labels from real clips
            judged, aux_real = judged
            labels = batch["labels"].to(real.device)
        (f_real, v_real), (f_mis, v_mis) = judged
        judged_fake = D(fake.detach(), [text], aux=adc)
        if adc:  # ADC-GAN: the heads also learn "generated clip of class k"
            judged_fake, aux_gen = judged_fake
        ((f_fake, v_fake),) = judged_fake
        w = m.mismatch_weight
        loss_d = (
            loss.d_real(f_real) + loss.d_real(v_real)
            + (1 - w) * (loss.d_fake(f_fake) + loss.d_fake(v_fake)) + w * (loss.d_fake(f_mis) + loss.d_fake(v_mis))
        )
        logs = {
            "frame_real": f_real.mean().detach(), "frame_fake": f_fake.mean().detach(),
            "video_real": v_real.mean().detach(), "video_fake": v_fake.mean().detach(),
            # how often D scores a real clip higher with its own caption than with another one
            "frame_match_acc": (f_real > f_mis).float().mean().detach(),
            "video_match_acc": (v_real > v_mis).float().mean().detach(),
        }
        if use_aux:
            loss_d = loss_d + self._aux_term(aux_real, labels, logs, real=True)
            if adc:
                loss_d = loss_d + self._aux_generated_term(aux_gen, labels, logs)
        if r1_step:  # per frame for the frame D (each frame is one of its samples), per clip for the video D
            r1 = r1_penalty(f_real, real_in) / f_real.shape[1] + r1_penalty(v_real, real_in)
            loss_d = loss_d + m.r1_gamma * m.r1_every * r1
            logs["r1"] = r1.detach()
        if loss.gp_weight:
            gp = self._gradient_penalty(D, real, fake.detach(), text)
            loss_d = loss_d + loss.gp_weight * gp
            logs["gp"] = gp.detach()
        self.update("D", loss_d, loss.weight_clip)
        logs["loss_d"] = loss_d.detach()
        if not g_step:
            return logs

        # --- generator: fool both discriminators with matched captions
        with self.frozen(D):  # through the unwrapped D: no DDP reduction for a network that is not updated here
            judged = self.unwrap("D")(fake, [text], aux=use_aux)
        if use_aux:  # ... and G makes its clips read as their caption's labels
            judged, aux_fake = judged
            aux_g = self._aux_term(aux_fake, labels, logs, real=False, adc=adc)
        ((f_gen, v_gen),) = judged
        loss_g = loss.g(f_gen) + loss.g(v_gen)
        if use_aux:
            loss_g = loss_g + aux_g
        self.update("G", loss_g)
        logs["loss_g"] = loss_g.detach()
        return logs
