"""Text-to-video inference: TextToVideoPipeline.from_pretrained(dir)(prompts) -> frames.

One pipeline for every text-to-video family: the export's recipe names the generator class (GENERATORS). A
generator is built as `Cls(model_config, text_encoder)`, says which random inputs one clip needs
(`latent_shapes()`), and maps (ids, mask, **latents) to a dict with "video" [B, 3, T, H, W] in [-1, 1] and,
where it has one, "gist" [B, 3, H, W].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..errors import T2VError
from ..models.base import load_weights, save_weights
from .base import (  # noqa: F401  (ASSETS, BUNDLED, slugify are part of this module's public surface)
    ASSETS, BUNDLED, TextPrompts, check_truncation, import_object, latent_generator, read_export_meta,
    resolve_model_dir, slugify, to_uint8, write_export_meta,
)

GENERATORS = {
    "t2v": "t2v.models.t2v:T2VGenerator",
    "tfgan": "t2v.models.tfgan:TFGANGenerator",
}


@dataclass
class VideoOutput:
    frames: np.ndarray  # uint8 [N, T, H, W, 3]
    gists: np.ndarray | None  # uint8 [N, H, W, 3], for models that sketch a gist first
    prompts: list[str]  # the prompt of each clip
    fps: int = 8
    unknown_words: dict[str, list[str]] = field(default_factory=dict)

    def save(self, path: str | Path, fmt: str | None = None, gist: bool = False) -> list[Path]:
        """Write every clip: `path` for one clip, `<stem>_<k><suffix>` for several. fmt: mp4 | gif | png (strip)."""
        from ..data.video import save_video

        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".") or "mp4").lower()
        if fmt not in ("mp4", "gif", "png"):
            raise T2VError(f"unknown format {fmt!r}; use mp4, gif or png")
        path.parent.mkdir(parents=True, exist_ok=True)
        n = len(self.frames)
        written = []
        for k in range(n):
            stem = path.stem if n == 1 else f"{path.stem}_{k}"
            written.append(save_video(path.with_name(f"{stem}.{fmt}"), self.frames[k], fps=self.fps))
            if gist and self.gists is not None:
                written.append(save_video(path.with_name(f"{stem}_gist.png"), self.gists[k][None], fps=self.fps))
        return written

    def select(self, index: slice | list[int]) -> "VideoOutput":
        pick = np.arange(len(self.frames))[index]
        return VideoOutput(
            self.frames[pick], None if self.gists is None else self.gists[pick], [self.prompts[i] for i in pick],
            self.fps, {p: w for p, w in self.unknown_words.items() if p in {self.prompts[i] for i in pick}},
        )

    def save_by_prompt(self, out_dir: str | Path, fmt: str | None = None) -> list[Path]:
        """OUT/<slug>[_k].<fmt> per prompt (+ <slug>[_k]_gist.png): what sample.py writes. fmt: mp4 (default)."""
        fmt, written, used = fmt or "mp4", [], set()
        for prompt in dict.fromkeys(self.prompts):
            slug = slugify(prompt)
            slug = slug if slug not in used else f"{slug}_{len(used)}"
            used.add(slug)
            part = self.select([i for i, p in enumerate(self.prompts) if p == prompt])
            written += part.save(Path(out_dir) / f"{slug}.{fmt}", fmt=fmt, gist=True)
        return written

    def save_grid(self, path: str | Path) -> Path:
        """One PNG: a row per clip, its frames left to right."""
        from einops import rearrange

        from ..data.video import write_png

        return write_png(path, rearrange(self.frames, "n t h w c -> (n h) (t w) c"))


class TextToVideoPipeline(TextPrompts):
    """Text encoder + video generator (EMA weights) + tokenizer, loaded from an exported directory."""

    def __init__(self, generator: torch.nn.Module, processor, config: Config, fps: int = 8):
        self.generator, self.processor, self.config, self.fps = generator, processor, config, fps

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: str | torch.device) -> "TextToVideoPipeline":
        self.generator.to(device)
        return self

    # --- persistence --------------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, dtype: str = "float32") -> Path:
        d = Path(directory)
        write_export_meta(d, type(self).__name__, self.config, dtype, fps=self.fps)
        self.processor.save(d / "text")
        self.generator.text_encoder.save_assets(d / "text")
        save_weights(self.generator, d / "model.safetensors", torch.float16 if dtype == "float16" else None)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None, device: str | torch.device = "cpu"):
        """Load an exported pipeline; no argument = the model bundled with t2v."""
        from ..errors import CheckpointError
        from ..text import build_text_encoder, load_text_processor

        d = resolve_model_dir(directory)
        meta, cfg = read_export_meta(d, cls.__name__)
        if cfg.recipe not in GENERATORS:
            raise CheckpointError(f"{d}: recipe {cfg.recipe!r} has no text-to-video generator ({', '.join(GENERATORS)})")
        processor = load_text_processor(d / "text", cfg.text)
        G = import_object(GENERATORS[cfg.recipe])(cfg.model, build_text_encoder(cfg.text, processor, assets_dir=d / "text"))
        load_weights(G, d / "model.safetensors")
        return cls(G.eval(), processor, cfg, fps=int(meta.get("fps", 8))).to(device)

    # --- sampling -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, prompts: str | list[str], num_samples: int = 1, seed: int = 0, batch_size: int = 32,
                 truncation: float = 1.0) -> VideoOutput:
        """Sample `num_samples` clips per prompt; clip k of every prompt uses random inputs seeded by (seed, k).
        `truncation` scales those N(0, I) inputs (see `check_truncation`)."""
        psi = check_truncation(truncation)
        prompts, cleaned, unknown = self.clean_prompts(prompts)
        G = self.generator.eval()
        shapes = G.latent_shapes()
        per_k = [{n: psi * torch.randn(s, generator=g) for n, s in shapes.items()}
                 for g in (latent_generator(seed, k) for k in range(num_samples))]
        latents = {n: torch.stack([per_k[k][n] for k in range(num_samples)] * len(cleaned)) for n in shapes}
        texts = [t for t in cleaned for _ in range(num_samples)]
        frames, gists = [], []
        dev = self.device
        for i in range(0, len(texts), batch_size):
            ids, mask = self.processor(texts[i : i + batch_size])
            out = G(ids.to(dev), mask.to(dev), **{n: v[i : i + batch_size].to(dev) for n, v in latents.items()})
            frames.append(to_uint8(out["video"].permute(0, 2, 3, 4, 1)))
            if "gist" in out:
                gists.append(to_uint8(out["gist"].permute(0, 2, 3, 1)))
        return VideoOutput(
            np.concatenate(frames), np.concatenate(gists) if gists else None,
            [p for p in prompts for _ in range(num_samples)], fps=self.fps, unknown_words=unknown,
        )
