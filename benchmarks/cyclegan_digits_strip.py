"""A picture of a digits translation model: columns 0-9; `--rows` pairs of rows printed test digits / their translation
into handwriting, then as many pairs handwritten test digits / their translation into print.

    python benchmarks/cyclegan_digits_strip.py --model runs/cyclegan_digits/final --out strip.png [--rows 3]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="exported ImageTranslationPipeline directory")
    p.add_argument("--dataset", default="data/digits_unpaired_norm")
    p.add_argument("--split", default="test")
    p.add_argument("--rows", type=int, default=3, help="pairs of rows per direction")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    import numpy as np

    from t2v.data.domains import select_items
    from t2v.data.format import BuiltDataset
    from t2v.data.video import save_image_grid
    from t2v.pipelines.translate import ImageTranslationPipeline

    ds = BuiltDataset(a.dataset)
    col, vocab = ds.label_names.index("digit"), ds.label_vocab("digit")
    pipe = ImageTranslationPipeline.from_pretrained(a.model)
    rows = []
    for domain, direction in (("domain=A", "AtoB"), ("domain=B", "BtoA")):
        idx = select_items(ds, domain, a.split)
        labels = ds.all_label_ids[idx, col]
        for r in range(a.rows):  # row r: the r-th test item of each digit
            pick = [idx[np.flatnonzero(labels == d)[r]] for d in range(len(vocab))]
            real = np.asarray(ds.pixels[np.array(pick)])
            rows += [real, pipe.translate(real, direction)]
    save_image_grid(Path(a.out), np.concatenate(rows), nrow=len(vocab))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
