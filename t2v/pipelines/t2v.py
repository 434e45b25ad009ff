"""Text-to-video inference: TextToVideoPipeline.from_pretrained(dir)(prompts) -> frames."""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import Config, build_config
from ..errors import CheckpointError, ConfigError, T2VError
from ..models.base import load_weights, read_json, save_weights

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED = {"scenes": "t2v_scenes"}  # short checkpoint names -> package-data folders
DEFAULT_MODEL = "scenes"


def slugify(text: str, max_len: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:max_len].rstrip("_") or "sample"


def resolve_model_dir(name_or_dir: str | Path | None) -> Path:
    """None -> the bundled default; a short name ("scenes") -> its bundled folder; else a directory."""
    name = DEFAULT_MODEL if name_or_dir is None else str(name_or_dir)
    if name in BUNDLED:
        d = ASSETS / BUNDLED[name]
        if not (d / "config.json").is_file():
            raise CheckpointError(f"the bundled model {name!r} is missing from this install ({d}); reinstall t2v")
        return d
    d = Path(name)
    if not d.is_dir():
        known = ", ".join(sorted(BUNDLED))
        raise CheckpointError(f"checkpoint {name!r} is neither a directory nor a bundled model name ({known})")
    return d


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float -> uint8."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


@dataclass
class VideoOutput:
    frames: np.ndarray  # uint8 [N, T, H, W, 3]
    gists: np.ndarray  # uint8 [N, H, W, 3]
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
            if gist:
                written.append(save_video(path.with_name(f"{stem}_gist.png"), self.gists[k][None], fps=self.fps))
        return written


    def save_grid(self, path: str | Path) -> Path:
        """One PNG: a row per clip, its frames left to right."""
        from einops import rearrange

        from ..data.video import write_png

        return write_png(path, rearrange(self.frames, "n t h w c -> (n h) (t w) c"))


class TextToVideoPipeline:
    """Text encoder + T2V generator (EMA weights) + tokenizer, loaded from an exported directory."""

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
        from ..config import save_config

        if dtype not in ("float32", "float16"):
            raise ConfigError(f"export dtype must be float32 or float16, got {dtype!r}")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {"pipeline": type(self).__name__, "fps": self.fps, "dtype": dtype, "config": self.config.to_dict()}
        (d / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        save_config(self.config, d / "train_config.json")
        self.processor.save(d / "text")
        self.generator.text_encoder.save_assets(d / "text")
        save_weights(self.generator, d / "model.safetensors", torch.float16 if dtype == "float16" else None)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None, device: str | torch.device = "cpu"):
        """Load an exported pipeline; no argument = the model bundled with t2v."""
        from ..models.t2v import T2VGenerator
        from ..text import build_text_encoder, load_text_processor

        d = resolve_model_dir(directory)
        meta = read_json(d / "config.json")
        if meta.get("pipeline") != cls.__name__ or "config" not in meta:
            raise CheckpointError(f"{d} holds a {meta.get('pipeline', 'non-pipeline')} export, not a {cls.__name__}")
        try:
            cfg = build_config(meta["config"])
        except ConfigError as e:
            raise CheckpointError(f"{d / 'config.json'} is not a valid t2v config: {e}") from None
        processor = load_text_processor(d / "text", cfg.text)
        G = T2VGenerator(cfg.model, build_text_encoder(cfg.text, processor, assets_dir=d / "text"))
        load_weights(G, d / "model.safetensors")
        return cls(G.eval(), processor, cfg, fps=int(meta.get("fps", 8))).to(device)

    # --- sampling -----------------------------------------------------------------------------------------------
    def clean_prompt(self, prompt: str) -> tuple[str, list[str]]:
        """Drop words the tokenizer does not know; an empty prompt or one with no known word is an error."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise T2VError("empty text: give a caption such as --text \"play golf on snow\"")
        unknown = self.processor.unknown_words(prompt)
        if not unknown:
            return prompt, []
        from ..text import split_words

        kept = [w for w in split_words(prompt) if w not in set(unknown)]
        if not kept:
            raise T2VError(f"no known word in {prompt!r}; the model knows words such as {self._example_words()}")
        return " ".join(kept), unknown

    def _example_words(self) -> str:
        words = [w for w in getattr(self.processor, "itos", []) if w.isalpha()][:12]
        return ", ".join(words) if words else "those of its training captions"

    @torch.no_grad()
    def __call__(self, prompts: str | list[str], num_samples: int = 1, seed: int = 0, batch_size: int = 32) -> VideoOutput:
        """Sample `num_samples` clips per prompt; clip k of every prompt uses random inputs seeded by (seed, k)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise T2VError("no text given")
        cleaned, unknown = [], {}
        for p in prompts:
            text, unk = self.clean_prompt(p)
            cleaned.append(text)
            if unk:
                unknown[p] = unk
                warnings.warn(f"unknown words in {p!r} ignored: {', '.join(unk)}", stacklevel=2)
        G, cfg = self.generator.eval(), self.config.model
        eps, noise = [], []
        for k in range(num_samples):
            g = torch.Generator().manual_seed(seed * 100_003 + k)
            eps.append(torch.randn(cfg.z_dim, generator=g))
            noise.append(torch.randn(cfg.noise_dim, generator=g))
        texts = [t for t in cleaned for _ in range(num_samples)]
        eps_all = torch.stack(eps * len(cleaned))
        noise_all = torch.stack(noise * len(cleaned))
        frames, gists = [], []
        dev = self.device
        for i in range(0, len(texts), batch_size):
            ids, mask = self.processor(texts[i : i + batch_size])
            out = G(ids.to(dev), mask.to(dev), eps=eps_all[i : i + batch_size].to(dev), noise=noise_all[i : i + batch_size].to(dev))
            frames.append(to_uint8(out["video"].permute(0, 2, 3, 4, 1)))
            gists.append(to_uint8(out["gist"].permute(0, 2, 3, 1)))
        return VideoOutput(
            np.concatenate(frames), np.concatenate(gists), [p for p in prompts for _ in range(num_samples)],
            fps=self.fps, unknown_words=unknown,
        )
