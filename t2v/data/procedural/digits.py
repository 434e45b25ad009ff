"""Digit domains: printed digits rendered from fonts (source, A) and scikit-learn's handwritten digits (target, B).

Protocol (recorded in meta["protocol"]): 32x32 images, grayscale replicated to 3 channels (R = G = B), uint8 with a
white (255) digit on black (0). Printed digits get a random font, stroke width, scale, aspect, rotation, shear and
position (`framing="random"`), or the same font, stroke, aspect, rotation and shear with the digit scaled to the
image height and centred (`framing="normalized"`: the size normalisation the handwritten digits had — UCI's
optdigits bitmaps, like NIST's, are scaled to fill their box — so the domains differ in style, not in geometry);
the 1,797 handwritten 8x8 digits (0..16) are scaled to 0..255 and upsampled bilinearly. Splits are fixed:
printed every 10th item -> test; handwritten a seeded permutation -> 500 test, 1,297 train.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ..format import DatasetWriter
from .builder import check, describe, progress, write
from .draw import Canvas

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGITS = [str(d) for d in range(10)]
FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts", "/Library/Fonts",
             "/System/Library/Fonts", "C:/Windows/Fonts"]
STROKES = (0, 1, 2)  # extra outline width (pixels at the 48 px render size)
TARGET_TEST = 500
FRAMINGS = ("random", "normalized")
RANDOM_HEIGHT = (0.55, 0.85)  # random framing: glyph height as a fraction of the image height
NORMALIZED_FILL = (0.88, 0.97)  # normalized framing: fraction of the image height the transformed glyph box spans


@dataclass
class Font:
    name: str
    glyphs: list[list[np.ndarray]]  # [stroke][digit] -> float32 ink mask [h, w], cropped to the ink


def seven_segment() -> Font:
    """A seven-segment display face drawn with numpy, at three stroke widths."""
    on = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]
    w, h, m = 24.0, 44.0, 6.0
    ends = {"a": (0, 0, 1, 0), "b": (1, 0, 1, 1), "c": (1, 1, 1, 2), "d": (0, 2, 1, 2), "e": (0, 1, 0, 2),
            "f": (0, 0, 0, 1), "g": (0, 1, 1, 1)}
    glyphs = []
    for width in (3.5, 5.0, 6.5):
        row = []
        for segs in on:
            c = Canvas.blank(1, int(h + 2 * m), int(w + 2 * m))
            lines = [(m + x0 * w, m + y0 * h / 2, m + x1 * w, m + y1 * h / 2)
                     for x0, y0, x1, y1 in (ends[s] for s in segs)]
            c.lines(lines, width, (1.0, 1.0, 1.0))
            row.append(_crop(c.frames[0, ..., 0]))
        glyphs.append(row)
    return Font("seven-segment", glyphs)


def _crop(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.02)
    return np.ascontiguousarray(mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1], dtype=np.float32)


def _pillow_font(font) -> list[list[np.ndarray]] | None:
    """Rasterise 0-9 at 48 px with every stroke width; None if the font has no ten distinct digit glyphs."""
    from PIL import Image, ImageDraw

    glyphs = []
    for stroke in STROKES:
        row = []
        for d in DIGITS:
            img = Image.new("L", (112, 112))
            ImageDraw.Draw(img).text((56, 56), d, fill=255, font=font, anchor="mm", stroke_width=stroke,
                                     stroke_fill=255)
            mask = np.asarray(img, np.float32) / 255.0
            if mask.max() < 0.5:
                return None
            row.append(_crop(mask))
        glyphs.append(row)
    keys = {(g.shape, g.round(1).tobytes()) for g in glyphs[0]}
    return glyphs if len(keys) == 10 else None


def system_font_files() -> list[Path]:
    """TrueType / OpenType files in the usual font directories, sorted."""
    found: set[Path] = set()
    for d in FONT_DIRS:
        root = Path(d).expanduser()
        if root.is_dir():
            found.update(p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".otf") and p.is_file())
    return sorted(found)


def load_fonts(spec: str) -> tuple[list[Font], list[tuple[str, str]]]:
    """Fonts for `spec`: "bundled" (Pillow's own font + seven-segment; the same on every machine), "auto"
    (bundled + every system TrueType/OpenType font), or comma-separated font file paths.
    Returns (fonts, skipped (source, reason))."""
    try:
        from PIL import ImageFont
    except ImportError:
        ImageFont = None
    fonts, skipped = [seven_segment()], []
    if spec in ("auto", "bundled"):
        if ImageFont is None:
            skipped.append(("pillow-default", "Pillow is not installed"))
        else:
            try:
                glyphs = _pillow_font(ImageFont.load_default(size=48))
            except (OSError, TypeError, ValueError) as e:  # old Pillow or no FreeType: only a bitmap font
                glyphs, reason = None, f"no scalable default font ({e})"
            else:
                reason = "no distinct digit glyphs"
            if glyphs is None:
                skipped.append(("pillow-default", reason))
            else:
                fonts.append(Font("pillow-default", glyphs))
        files = system_font_files() if spec == "auto" else []
    else:
        files = [Path(p.strip()).expanduser() for p in spec.split(",") if p.strip()]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise DatasetError(f"font file(s) not found: {', '.join(missing)}; pass existing .ttf/.otf paths, "
                               "'auto' or 'bundled' to --fonts")
        if ImageFont is None:
            raise DatasetError("--fonts with font files needs Pillow (pip install pillow), or use --fonts bundled")
    for path in files:
        try:
            glyphs = _pillow_font(ImageFont.truetype(str(path), 48))
        except OSError as e:
            skipped.append((str(path), f"unreadable font ({e})"))
            continue
        if glyphs is None:
            skipped.append((str(path), "no distinct digit glyphs"))
        else:
            fonts.append(Font(path.stem, glyphs))
    return fonts, skipped


def _bilinear(img: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sample img [h, w] at continuous pixel coordinates (pixel centres at integers); zero outside."""
    h, w = img.shape
    pad = np.pad(img, 1)
    y, x = np.clip(y + 1, 0, h + 1), np.clip(x + 1, 0, w + 1)
    y0, x0 = np.clip(np.floor(y).astype(int), 0, h), np.clip(np.floor(x).astype(int), 0, w)
    fy, fx = y - y0, x - x0
    return ((pad[y0, x0] * (1 - fx) + pad[y0, x0 + 1] * fx) * (1 - fy)
            + (pad[y0 + 1, x0] * (1 - fx) + pad[y0 + 1, x0 + 1] * fx) * fy)


def render_printed(fonts: list[Font], digit: int, rng: np.random.Generator, size: int = 32,
                   framing: str = "random") -> np.ndarray:
    """One printed digit: uint8 [size, size, 3]. framing="random": glyph height 55-85% of the image at a random
    position; "normalized": the transformed glyph scaled to 88-97% of the image height (and at most that share of
    its width), centred. Both draw the same random numbers, so font, stroke, aspect, rotation, shear, ink and noise
    of item i are the same under either framing."""
    font = fonts[rng.integers(len(fonts))]
    glyph = font.glyphs[rng.integers(len(font.glyphs))][digit]
    gh, gw = glyph.shape
    height = rng.uniform(*RANDOM_HEIGHT) * size
    sy = height / gh
    sx = sy * rng.uniform(0.8, 1.2)
    angle, shear = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(-0.25, 0.25)
    # forward map (glyph -> image): rotate(angle) @ shear @ scale; sample through its inverse
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    inverse = np.linalg.inv(forward)
    extent = np.abs(forward) @ np.array([gw, gh]) / 2  # half size of the transformed box (x, y)
    room = np.maximum(size / 2 - extent, 0) * 0.9
    cx, cy = size / 2 + rng.uniform(-1, 1) * room[0], size / 2 + rng.uniform(-1, 1) * room[1]
    if framing == "normalized":
        # the same draw, mapped linearly from the random framing's height range onto NORMALIZED_FILL
        t = (height / size - RANDOM_HEIGHT[0]) / (RANDOM_HEIGHT[1] - RANDOM_HEIGHT[0])
        fill = NORMALIZED_FILL[0] + t * (NORMALIZED_FILL[1] - NORMALIZED_FILL[0])
        k = fill * size / (2 * extent.max())  # the longer side of the transformed box spans `fill` of the image
        forward, inverse = forward * k, inverse / k
        cx = cy = size / 2
    elif framing != "random":
        raise DatasetError(f"framing must be one of {list(FRAMINGS)}, got {framing!r}")
    ss = 2  # supersampling
    grid = (np.arange(size * ss, dtype=np.float64) + 0.5) / ss
    oy, ox = np.meshgrid(grid - cy, grid - cx, indexing="ij")
    gx = inverse[0, 0] * ox + inverse[0, 1] * oy + gw / 2 - 0.5
    gy = inverse[1, 0] * ox + inverse[1, 1] * oy + gh / 2 - 0.5
    ink = _bilinear(glyph, gy, gx).reshape(size, ss, size, ss).mean(axis=(1, 3))
    img = ink * rng.uniform(0.75, 1.0) + rng.normal(0, rng.uniform(0.0, 0.03), ink.shape)
    return np.repeat((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=-1)


def scale_up_8x8(src: np.ndarray, size: int) -> np.ndarray:
    """Bilinear [N, 8, 8] -> [N, size, size] (pixel centres aligned, edges clamped): how the 8x8 handwritten digits
    are brought to the image size."""
    pos = (np.arange(size) + 0.5) * 8 / size - 0.5  # output pixel centres in source pixel coordinates
    i0 = np.clip(np.floor(pos).astype(int), 0, 7)
    i1 = np.clip(i0 + 1, 0, 7)
    f = np.clip(pos - i0, 0, 1)
    rows = src[:, i0] * (1 - f)[None, :, None] + src[:, i1] * f[None, :, None]  # [N, size, 8]
    return rows[:, :, i0] * (1 - f) + rows[:, :, i1] * f  # [N, size, size]


def handwritten(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits as uint8 [N, size, size, 3] and their labels [N]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    img = scale_up_8x8(data.images.astype(np.float64) / 16.0, size)
    img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=-1), data.target.astype(int)


def target_split(n: int, seed: int, test: int = TARGET_TEST) -> np.ndarray:
    """'train' / 'test' for each handwritten digit: a seeded permutation, the first `test` of it are test."""
    split = np.full(n, "train", dtype=object)
    split[np.random.default_rng(seed).permutation(n)[:test]] = "test"
    return split


def captions(digit: int, style: str) -> list[str]:
    name = NAMES[digit]
    return [f"the digit {name}", f"a {style} {digit}", f"a {style} {name}", f"the {style} digit {name}"]


# ----------------------------------------------------------------------------------------------------------------
# Builder

FORMS = {  # --as: (dataset kind, domain name of printed, domain name of handwritten)
    "labeled": ("labeled", "source", "target"),
    "unpaired": ("unpaired", "A", "B"),
    "captions": ("image", None, None),
}


def source_split(index: int) -> str:
    """Printed digits: every 10th block of ten (balanced over digits) -> 'test'."""
    return "test" if (index // 10) % 10 == 9 else "train"


def build_digits(out: str | Path, form: str = "labeled", num_source: int = 10000, size: int = 32, seed: int = 0,
                 fonts: str = "auto", overwrite: bool = False, previews: int = 32, progress_bar: bool = True,
                 framing: str = "random") -> dict:
    """Build printed + handwritten digits as labeled domains, unpaired domains or caption/image pairs."""
    check(framing in FRAMINGS, f"--framing must be one of {list(FRAMINGS)}, got {framing!r}")
    check(form in FORMS, f"--as must be one of {list(FORMS)}, got {form!r}")
    check(num_source >= 1, f"--num-source must be at least 1, got {num_source}")
    check(size >= 8, f"--size must be at least 8 pixels, got {size}")
    faces, skipped = load_fonts(fonts)
    kind, printed_domain, hand_domain = FORMS[form]
    hand, hand_labels = handwritten(size)
    hand_split = target_split(len(hand), seed)
    labels = {"digit": DIGITS, "style": ["printed", "handwritten"]} if form == "captions" else {"digit": DIGITS}
    meta = {
        "builder": "digits", "seed": seed,
        "args": {"as": form, "num_source": num_source, "size": size, "seed": seed, "fonts": fonts,
                 "framing": framing},
        "fonts": [f.name for f in faces],
        "protocol": {
            "size": [size, size],
            "channels": "grayscale replicated to 3 channels (R = G = B)",
            "value_range": "uint8 0..255, white digit (255) on black (0); the loader maps it to [-1, 1]",
            "printed": {"domain": printed_domain, "count": num_source,
                        "framing": framing,
                        "render": ("random font and stroke width, aspect 0.8-1.2, rotation +-15 deg, shear +-0.25, "
                                   + ("glyph height 55-85% of the image, random position inside the image"
                                      if framing == "random" else
                                      "the transformed glyph box scaled to 88-97% of the image height (or width, "
                                      "whichever is longer), centred")
                                   + ", ink 0.75-1, 2x2 supersampling, light gaussian noise"),
                        "split": "items with (index // 10) % 10 == 9 -> test (10%, balanced), rest train"},
            "handwritten": {"domain": hand_domain, "count": len(hand),
                            "source": "sklearn.datasets.load_digits (8x8, values 0..16), scaled to 0..255, "
                                      f"bilinear upsampling to {size}x{size}",
                            "split": f"np.random.default_rng({seed}).permutation(n)[:{TARGET_TEST}] -> test, "
                                     f"rest train ({len(hand) - TARGET_TEST} / {TARGET_TEST})"},
        },
    }
    writer = DatasetWriter(out, kind, (size, size, 3), labels=labels, meta=meta, overwrite=overwrite)
    for source, reason in skipped:
        writer.skip(source, reason)

    def item_labels(digit: int, style: str) -> dict[str, str]:
        return {"digit": DIGITS[digit], "style": style} if form == "captions" else {"digit": DIGITS[digit]}

    def fill(w: DatasetWriter) -> None:
        for i in progress(range(num_source), num_source, "printed digits", progress_bar):
            digit = i % 10
            img = render_printed(faces, digit, np.random.default_rng([seed, i]), size, framing)
            w.add(img, captions(digit, "printed"), item_labels(digit, "printed"), source_split(i),
                  id=f"printed-{i:06d}", domain=printed_domain)
        for j, (img, digit) in enumerate(zip(hand, hand_labels)):
            w.add(img, captions(int(digit), "handwritten"), item_labels(int(digit), "handwritten"), hand_split[j],
                  id=f"handwritten-{j:04d}", domain=hand_domain)

    return write(writer, fill, previews)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/digits.py", description="Build the digit domains: printed digits "
                                "(from fonts) and scikit-learn's handwritten digits, 32x32.")
    p.add_argument("--out", default=None, help="output directory (default: data/digits_<as>)")
    p.add_argument("--as", dest="form", choices=list(FORMS), default="labeled",
                   help="labeled: domains source/target with digit labels (ADDA); unpaired: domains A=printed, "
                        "B=handwritten (CycleGAN); captions: caption/image pairs with digit and style labels")
    p.add_argument("--num-source", type=int, default=10000, help="number of printed digits (default: 10000)")
    p.add_argument("--size", type=int, default=32, help="image height and width (default: 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fonts", default="auto", help="auto: Pillow's bundled font, a seven-segment face and every "
                   "system .ttf/.otf; bundled: only the first two (same result on every machine); or comma-separated "
                   "font files")
    p.add_argument("--framing", choices=list(FRAMINGS), default="random",
                   help="printed digits: random (height 55-85%% of the image, anywhere in it) or normalized (scaled "
                        "to the image height and centred, as the handwritten digits are) (default: random)")
    p.add_argument("--previews", type=int, default=32, help="number of images in the preview grid (0 = none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    return p


def main(argv: list[str] | None = None) -> dict:
    a = parser().parse_args(argv)
    out = a.out or f"data/digits_{a.form}"
    summary = build_digits(out, a.form, a.num_source, a.size, a.seed, a.fonts, a.overwrite, a.previews,
                           framing=a.framing)
    print(describe(summary))
    return summary
