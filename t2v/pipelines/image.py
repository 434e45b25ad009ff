"""Text-to-image inference: TextToImagePipeline.from_pretrained(dir)(prompts) -> images (conditional DCGAN).

An export holds the generator (model.safetensors), the discriminator (discriminator.safetensors, used by GAN
inpainting), the tokenizer (text/) and config.json. An unconditional model takes prompts too: they only name the
output files.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import Config
from ..errors import CheckpointError, T2VError
from ..models.base import load_weights, save_weights
from .base import TextPrompts, check_truncation, latent_generator, read_export_meta, resolve_model_dir, slugify, to_uint8, write_export_meta

WEIGHTS, DISCRIMINATOR = "model.safetensors", "discriminator.safetensors"
RERANK_BY = ("text", "logit")  # what the discriminator scores candidates by (TextToImagePipeline.__call__)


@dataclass
class ImageOutput:
    images: np.ndarray  # uint8 [N, H, W, 3], prompt-major: the samples of prompt i are rows i*k ... i*k + k-1
    prompts: list[str]  # the prompt of each image
    unknown_words: dict[str, list[str]] = field(default_factory=dict)

    @property
    def frames(self) -> np.ndarray:
        """The images, under the name the evaluator reads from every pipeline's output."""
        return self.images

    def save_grid(self, path: str | Path, nrow: int = 8) -> Path:
        """One PNG of all images, `nrow` per row."""
        from ..data.video import save_image_grid

        return save_image_grid(path, self.images, nrow=nrow)

    def save_by_prompt(self, out_dir: str | Path, fmt: str | None = None) -> list[Path]:
        """OUT/<slug>.png per prompt: the image, or a grid (up to 8 per row) of its samples. fmt: png (default)."""
        from ..data.video import save_image_grid

        fmt = (fmt or "png").lower()
        if fmt != "png":
            raise T2VError(f"this is a text-to-image model: it writes png images, not {fmt}; use --format png "
                           "or leave --format out")
        written, used = [], set()
        for prompt in dict.fromkeys(self.prompts):
            slug = slugify(prompt)
            slug = slug if slug not in used else f"{slug}_{len(used)}"
            used.add(slug)
            picks = [i for i, p in enumerate(self.prompts) if p == prompt]
            written.append(save_image_grid(Path(out_dir) / f"{slug}.png", self.images[picks], nrow=8))
        return written


def _aux_classes(path: Path, labels: list[str]) -> dict[str, int]:
    """{label: number of classes} of the AC-GAN heads stored in a discriminator file (their sizes are the training
    data's vocabularies, which an export does not otherwise keep); {} where the file cannot be read, so that
    load_weights reports it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            keys = set(f.keys())
            return {n: f.get_slice(f"aux.{n}.weight").get_shape()[0] for n in labels if f"aux.{n}.weight" in keys}
    except (SafetensorError, OSError, ValueError):
        return {}


class TextToImagePipeline(TextPrompts):
    """Text encoder + DCGAN generator (EMA weights where trained with EMA) + tokenizer, and the discriminator."""

    def __init__(self, generator: nn.Module, processor, config: Config, discriminator: nn.Module | None = None):
        self.generator, self.processor, self.config, self.discriminator = generator, processor, config, discriminator

    @property
    def conditional(self) -> bool:
        return self.generator.text_encoder is not None

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: str | torch.device) -> "TextToImagePipeline":
        self.generator.to(device)
        if self.discriminator is not None:
            self.discriminator.to(device)
        return self

    # --- persistence --------------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, dtype: str = "float32") -> Path:
        d = Path(directory)
        write_export_meta(d, type(self).__name__, self.config, dtype)
        if self.conditional:
            self.processor.save(d / "text")
            self.generator.text_encoder.save_assets(d / "text")
        half = torch.float16 if dtype == "float16" else None
        save_weights(self.generator, d / WEIGHTS, half)
        if self.discriminator is not None:
            save_weights(self.discriminator, d / DISCRIMINATOR, half)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None, device: str | torch.device = "cpu"):
        """Load an exported text-to-image model (a directory or a bundled model's name)."""
        from ..models.dcgan import DCGANDiscriminator, DCGANGenerator
        from ..text import build_text_encoder, load_text_processor

        d = resolve_model_dir(directory)
        _, cfg = read_export_meta(d, cls.__name__)
        if cfg.recipe != "dcgan":
            raise CheckpointError(f"{d}: recipe {cfg.recipe!r} has no text-to-image generator (dcgan)")
        processor = load_text_processor(d / "text", cfg.text) if cfg.model.conditional else None

        def encoder() -> nn.Module | None:
            return build_text_encoder(cfg.text, processor, assets_dir=d / "text") if processor is not None else None

        G = load_weights(DCGANGenerator(cfg.model, encoder()), d / WEIGHTS).eval()
        D = None
        if (d / DISCRIMINATOR).is_file():
            heads = _aux_classes(d / DISCRIMINATOR, cfg.model.aux_labels)
            D = load_weights(DCGANDiscriminator(cfg.model, encoder(), heads), d / DISCRIMINATOR).eval()
        return cls(G, processor, cfg, D).to(device)

    # --- sampling -----------------------------------------------------------------------------------------------
    def text_inputs(self, texts: list[str]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Token ids and mask on the model's device (None, None for an unconditional model)."""
        if not self.conditional:
            return None, None
        ids, mask = self.processor(texts)
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def __call__(self, prompts: str | list[str], num_samples: int = 1, seed: int = 0, batch_size: int = 64,
                 truncation: float = 1.0, rerank: int = 1, rerank_by: str = "text") -> ImageOutput:
        """Sample `num_samples` images per prompt; image k of every prompt uses the noise seeded by (seed, k).
        `truncation` scales that N(0, I) noise (see `check_truncation`). `rerank` R > 1 draws R latents for each
        image (the first is the one drawn without reranking) and keeps the image the export's discriminator scores
        highest for its prompt: by `rerank_by` "text", the caption's term of a projection discriminator (how well
        the image fits the text, `DCGANDiscriminator.text_score`); by "logit", its whole GAN-CLS logit (real and
        matching), which also marks down combinations never seen as real."""
        psi = check_truncation(truncation)
        if num_samples < 1:
            raise T2VError(f"num_samples must be at least 1, got {num_samples}")
        if rerank < 1:
            raise T2VError(f"rerank must be at least 1, got {rerank}")
        if rerank_by not in RERANK_BY:
            raise T2VError(f"rerank_by must be one of {', '.join(RERANK_BY)}, got {rerank_by!r}")
        if rerank > 1 and (self.discriminator is None or not self.conditional):
            raise T2VError("rerank needs a text-conditional export with its discriminator (discriminator.safetensors)")
        if rerank > 1 and rerank_by == "text" and self.discriminator.project is None:
            raise T2VError("rerank_by text needs a projection discriminator (model.d_text: projection); "
                           "this one concatenates the text: rerank by its logit")
        if self.conditional:
            prompts, cleaned, unknown = self.clean_prompts(prompts)
        else:
            prompts = [prompts] if isinstance(prompts, str) else list(prompts)
            if not prompts:
                raise T2VError("no text given")
            cleaned, unknown = prompts, {}
            warnings.warn("this model is unconditional: the text only names the output files", stacklevel=2)
        G = self.generator.eval()
        # [num_samples, rerank, z]: candidate j of image k is the j-th latent drawn from k's generator, one at a time
        # (a [rerank, z] draw would not start with the latent drawn alone)
        gens = [latent_generator(seed, k) for k in range(num_samples)]
        z = psi * torch.stack([torch.stack([torch.randn(G.cfg.z_dim, generator=g) for _ in range(rerank)])
                               for g in gens])
        z = z.repeat(len(cleaned), 1, 1)
        texts = [t for t in cleaned for _ in range(num_samples)]
        if rerank > 1:
            D = self.discriminator.eval()
            judge = D.text_score if rerank_by == "text" else D
        images = []
        for i in range(0, len(texts), batch_size):
            ids, mask = self.text_inputs(texts[i : i + batch_size])
            best = G(z[i : i + batch_size, 0].to(self.device), ids, mask)
            if rerank > 1:
                score = judge(best, ids, mask)
                for j in range(1, rerank):
                    x = G(z[i : i + batch_size, j].to(self.device), ids, mask)
                    s = judge(x, ids, mask)
                    best = torch.where((s > score)[:, None, None, None], x, best)
                    score = torch.maximum(s, score)
            images.append(to_uint8(best.permute(0, 2, 3, 1)))
        return ImageOutput(np.concatenate(images), [p for p in prompts for _ in range(num_samples)], unknown)
