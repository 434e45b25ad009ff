"""How far apart a generator holds captions: the cosine similarity of the text vector G decodes from, one row and
column per caption. Text-to-image DCGAN: G's projected sentence vector (the input G concatenates with z); TFGAN:
G's content vector (the one every frame is decoded from).

    python benchmarks/dcgan_text_similarity.py --model runs/dcgan_scenes/final [--text "play golf on snow" ...]
    python benchmarks/dcgan_text_similarity.py --model shapes --text "a small red circle is moving ..." ...

Captions that share every word but the action and come out at cosine ~1 have lost the action before the first
convolution: no discriminator can make G draw a difference it is not given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_TEXT = ["play golf on snow", "kitesurf on snow", "jog on snow", "play golf on grass", "sail on grass",
                "bike on grass", "swim on grass"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="exported dcgan or tfgan model directory (or a bundled name)")
    p.add_argument("--text", nargs="+", default=DEFAULT_TEXT)
    a = p.parse_args()
    import torch
    import torch.nn.functional as F

    from t2v.errors import T2VError
    from t2v.pipelines.image import TextToImagePipeline

    from t2v.pipelines.base import read_export_meta, resolve_model_dir
    from t2v.pipelines.t2v import TextToVideoPipeline

    try:
        recipe = read_export_meta(resolve_model_dir(a.model), "TextToVideoPipeline")[1].recipe
    except T2VError:
        recipe = "dcgan"
    try:
        if recipe == "tfgan":
            pipe = TextToVideoPipeline.from_pretrained(a.model)
            ids, mask = pipe.processor(a.text)
            with torch.no_grad():
                cond = F.normalize(pipe.generator.text(ids, mask)[0].float(), dim=1)
        else:
            pipe = TextToImagePipeline.from_pretrained(a.model)
            if not pipe.conditional:
                raise SystemExit(f"error: {a.model} is an unconditional DCGAN; it has no text input")
            G = pipe.generator
            ids, mask = pipe.text_inputs(a.text)
            with torch.no_grad():
                cond = F.normalize(G.text_proj(G.text_encoder(ids, mask).sentence).float(), dim=1)
    except T2VError as e:
        raise SystemExit(f"error: {e}") from None
    sim = (cond @ cond.T).cpu()
    width = max(len(t) for t in a.text)
    print(f"G's caption vectors, cosine similarity ({a.model}, text encoder {pipe.config.text.encoder})")
    print(" " * width + "".join(f"{i:>7d}" for i in range(len(a.text))))
    for i, (t, row) in enumerate(zip(a.text, sim.tolist())):
        print(f"{t:<{width}}" + "".join(f"{v:7.3f}" for v in row) + f"   ({i})")


if __name__ == "__main__":
    main()
