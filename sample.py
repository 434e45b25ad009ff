"""Generate clips from text: python sample.py --text "play golf on snow" [--checkpoint DIR] [--out DIR] ...

Writes OUT/<slug>[_k].mp4 (or .gif / .png frame strip) and the gist as OUT/<slug>[_k]_gist.png, and prints the paths.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate videos from captions with a t2v model.")
    p.add_argument("--text", action="append", help="caption; repeat for several (batched)")
    p.add_argument("--checkpoint", default=None, help="exported model dir or bundled name (default: scenes)")
    p.add_argument("--out", default="samples", help="output directory (default: %(default)s)")
    p.add_argument("--num-samples", type=int, default=1, help="clips per caption")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="scale the random latents by PSI: 1 = as trained (default), smaller = more typical, less varied")
    p.add_argument("--rerank", type=int, default=1, metavar="R",
                   help="text-to-image models: each image is the best of R by the model's discriminator (default 1)")
    p.add_argument("--rerank-by", choices=["text", "logit"], default="text",
                   help="what --rerank scores: the caption's term of the discriminator (default) or its whole logit")
    p.add_argument("--format", choices=["mp4", "gif", "png"], default=None,
                   help="video models: mp4 (default), gif or png (frame strip); image models write png")
    p.add_argument("--fps", type=int, default=None, help="frames per second (default: the model's)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--input", help="image translation models: an image or video file, translated frame by frame")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB", help="image translation models: which way")
    a = p.parse_args(argv)

    from t2v.errors import T2VError

    if a.num_samples < 1:
        raise T2VError("--num-samples must be at least 1")
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise T2VError("--device cuda asked for, but no CUDA device is available; use --device cpu")
    for t in a.text or []:
        if not t.strip():
            raise T2VError("empty text: give a caption such as --text \"play golf on snow\"")
    from t2v.pipelines import load_pipeline
    from t2v.pipelines.base import rerank_kwargs

    pipe = load_pipeline(a.checkpoint, device=a.device)
    if hasattr(pipe, "translate_file"):  # an image translation model (CycleGAN): --input, not --text
        if not a.input:
            raise T2VError("this checkpoint translates images: give --input IMAGE_OR_VIDEO [--direction AtoB|BtoA]")
        print(pipe.translate_file(a.input, a.out, a.direction, a.format, a.fps))
        return 0
    if a.input or not a.text:
        raise T2VError("--input is only for image translation models; this checkpoint needs --text" if a.input
                       else "give a caption with --text, e.g. --text \"play golf on snow\"")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = pipe(a.text, num_samples=a.num_samples, seed=a.seed, truncation=a.truncation,
                   **rerank_kwargs(pipe, a.rerank, a.rerank_by))
    for prompt, words in out.unknown_words.items():
        print(f"warning: unknown words in {prompt!r} ignored: {', '.join(words)}", file=sys.stderr)
    if a.fps:
        out.fps = a.fps
    written = out.save_by_prompt(Path(a.out), a.format)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from t2v.errors import run_cli

    run_cli(main)
