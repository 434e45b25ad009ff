"""Which words a T2V model's word-attention layers read: per layer, the attention each word gets (mean over positions)
and the share of positions whose strongest word it is.

    python benchmarks/t2v_word_attention.py [--model scenes] [--text "play golf on snow" ...]

Samples one clip per caption from the text prior with zero latents and records every WordAttention layer's weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="scenes", help="exported T2V model directory or bundled name")
    p.add_argument("--text", nargs="+", default=["play golf on snow", "kitesurf on snow", "sail on grass",
                                                 "a person is playing golf in the snow, facing left"])
    a = p.parse_args()
    import numpy as np
    import torch

    from t2v.nn import WordAttention
    from t2v.pipelines.t2v import TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(a.model)
    G = pipe.generator
    layers = {name: m for name, m in G.named_modules() if isinstance(m, WordAttention)}
    if not layers:
        raise SystemExit(f"error: {a.model} has no word-attention layers (model.word_attention is off)")
    weights: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        layer.register_forward_hook(lambda m, args, out, name=name: weights.__setitem__(name, m.weights(*args)))
    ids, mask = pipe.processor(a.text)
    b = len(a.text)
    with torch.no_grad():
        G(ids, mask, eps=torch.zeros(b, G.cfg.z_dim), noise=torch.zeros(b, G.cfg.noise_dim))
    proc = pipe.processor  # a word tokenizer, or a Hugging Face one (text.encoder: pretrained)
    token = proc.itos.__getitem__ if hasattr(proc, "itos") else proc.tokenizer.convert_ids_to_tokens
    for i, text in enumerate(a.text):
        words = [token(t) for t in ids[i][mask[i]].tolist()]
        print(f"\n{text}\n| layer | positions | " + " | ".join(words) + " |")
        print("|---|---:|" + "---:|" * len(words))
        for name, w in weights.items():
            w = w[i][:, : len(words)]
            top = np.bincount(w.argmax(1).numpy(), minlength=len(words)) / len(w)
            cells = " | ".join(f"{m:.2f} ({t:.0%})" for m, t in zip(w.mean(0).tolist(), top))
            print(f"| {name} | {len(w)} | {cells} |")
    print("\ncells: mean attention over positions (share of positions whose strongest word it is)")


if __name__ == "__main__":
    main()
