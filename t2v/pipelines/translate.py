"""Unpaired image translation (CycleGAN) inference: ImageTranslationPipeline.from_pretrained(dir).translate(...).

An export holds both generators (AtoB/ and BtoA/, each config.json + model.safetensors) and config.json with the
training config, whose `model.domain_a` / `model.domain_b` name the domains. Videos are translated frame by frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..config import Config
from ..data.loader import normalize_pixels
from ..errors import T2VError
from ..models.cyclegan import ResnetGenerator
from .base import read_export_meta, resolve_model_dir, to_uint8, write_export_meta

DIRECTIONS = ("AtoB", "BtoA")


class ImageTranslationPipeline:
    """The two generators of a CycleGAN: `translate(pixels, "AtoB")` maps uint8 images or clips to the other domain."""

    def __init__(self, generators: dict[str, ResnetGenerator], config: Config, fps: int = 8):
        missing = [d for d in DIRECTIONS if d not in generators]
        if missing:
            raise T2VError(f"an image translation pipeline needs generators for {DIRECTIONS}; missing {missing}")
        self.generators, self.config, self.fps = generators, config, fps

    @property
    def domains(self) -> dict[str, str]:
        """Domain name -> the selector it was trained on (e.g. {"A": "place=grass", "B": "place=snow"})."""
        return {"A": self.config.model.domain_a, "B": self.config.model.domain_b}

    @property
    def device(self) -> torch.device:
        return next(self.generators["AtoB"].parameters()).device

    def to(self, device: str | torch.device) -> "ImageTranslationPipeline":
        for g in self.generators.values():
            g.to(device)
        return self

    # --- persistence --------------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, dtype: str = "float32") -> Path:
        d = Path(directory)
        write_export_meta(d, type(self).__name__, self.config, dtype, fps=self.fps, domains=self.domains)
        for name, g in self.generators.items():
            g.save_pretrained(d / name, torch.float16 if dtype == "float16" else None)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> "ImageTranslationPipeline":
        d = resolve_model_dir(directory)
        meta, cfg = read_export_meta(d, cls.__name__)
        gens = {name: ResnetGenerator.from_pretrained(d / name) for name in DIRECTIONS}
        return cls(gens, cfg, fps=int(meta.get("fps", 8))).to(device)

    # --- inference ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, pixels: np.ndarray, direction: str = "AtoB", batch_size: int = 16,
                  return_mask: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """uint8 [..., H, W, 3] (an image, images, a clip or clips) -> translated uint8 of the same shape.

        Frames go through the generator one batch at a time; sizes that are not multiples of 4 are reflect-padded
        for the generator and cropped back. With `return_mask` (an attention-guided generator only) also the
        generator's mask as uint8 [..., H, W] (255 = the pixel is generated, 0 = passed through).
        """
        if direction not in DIRECTIONS:
            raise T2VError(f"direction must be AtoB or BtoA, got {direction!r}")
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim < 3 or pixels.shape[-1] != 3:
            raise T2VError(f"translate takes uint8 RGB pixels [..., H, W, 3], got {pixels.dtype} {pixels.shape}")
        G = self.generators[direction].eval()
        if return_mask and not G.config.attention:
            raise T2VError("return_mask needs an attention-guided generator (model.generator.attention: true)")
        frames = pixels.reshape(-1, *pixels.shape[-3:])
        h, w = frames.shape[1:3]
        ph, pw = -h % 4, -w % 4
        dev, dtype = self.device, next(G.parameters()).dtype
        out, masks = [], []
        for i in range(0, len(frames), batch_size):
            x = torch.from_numpy(np.array(frames[i : i + batch_size])).to(dev)  # a copy: inputs may be read-only
            x = normalize_pixels(rearrange(x, "n h w c -> n c h w")).to(dtype)
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="reflect")
            y, mask = G.translate(x)
            out.append(to_uint8(rearrange(y[:, :, :h, :w], "n c h w -> n h w c")))
            if return_mask:
                masks.append((mask[:, 0, :h, :w].float() * 255).round().byte().cpu().numpy())
        images = np.concatenate(out).reshape(pixels.shape)
        return (images, np.concatenate(masks).reshape(pixels.shape[:-1])) if return_mask else images

    def translate_file(self, path: str | Path, out_dir: str | Path, direction: str = "AtoB",
                       fmt: str | None = None, fps: int | None = None) -> Path:
        """Translate an image, or a video (by suffix, GIFs included) frame by frame; writes
        OUT/<stem>_<direction>.png for an image, .<fmt> (mp4 | gif | png strip; default mp4) for a video."""
        from ..data.video import VIDEO_SUFFIXES, read_image, read_video, save_video, write_png

        path, out_dir = Path(path), Path(out_dir)
        stem = f"{path.stem}_{direction}"
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            image = self.translate(read_image(path), direction)
            out_dir.mkdir(parents=True, exist_ok=True)
            return write_png(out_dir / f"{stem}.png", image)
        frames = self.translate(read_video(path), direction)
        out_dir.mkdir(parents=True, exist_ok=True)
        return save_video(out_dir / f"{stem}.{fmt or 'mp4'}", frames, fps=fps or self.fps)
