"""Moving Shapes: one or two coloured shapes moving on a black background, captioned by their attributes.

Every object has a shape, colour, size, motion (straight, zigzag, diagonal) and direction (north/south/east/west
for straight and zigzag, north-east/... for diagonal). Objects stay fully inside the frame in every frame.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..format import DatasetWriter
from .builder import check, describe, progress, write
from .draw import Canvas

SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "green", "blue", "yellow", "white"]
SIZES = ["small", "large"]
MOTIONS = ["straight", "zigzag", "diagonal"]
DIRECTIONS = ["north", "south", "east", "west", "north-east", "north-west", "south-east", "south-west"]
AXIS_DIRECTIONS = DIRECTIONS[:4]
DIAGONAL_DIRECTIONS = DIRECTIONS[4:]
ATTRIBUTES = ["shape", "colour", "size", "motion", "direction"]
# (shape, colour, size) triples that never appear in train / val; every shape, colour and size still does.
DEFAULT_HELDOUT = [("circle", "red", "large"), ("square", "blue", "small"), ("triangle", "green", "large"),
                   ("circle", "white", "small"), ("triangle", "yellow", "small")]

RGB = {"red": (0.92, 0.12, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.35, 1.0), "yellow": (0.98, 0.88, 0.1),
       "white": (0.97, 0.97, 0.97)}
RADIUS = {"small": 0.1, "large": 0.17}  # bounding radius, in frame widths
UNIT = {"north": (0, -1), "south": (0, 1), "east": (1, 0), "west": (-1, 0), "north-east": (1, -1),
        "north-west": (-1, -1), "south-east": (1, 1), "south-west": (-1, 1)}
MOTION_PHRASES = {  # (template 1 phrase, template 2 phrase)
    "straight": ("in a straight line", "straight"),
    "zigzag": ("in a zigzag path", "in a zigzag"),
    "diagonal": ("diagonally", "diagonally"),
}


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    size: str
    motion: str
    direction: str

    @property
    def triple(self) -> tuple[str, str, str]:
        return self.shape, self.colour, self.size


def captions(objects: list[ShapeObject]) -> list[str]:
    """Three paraphrases; objects are joined with "and"."""
    def one(o: ShapeObject, k: int) -> str:
        phrase = MOTION_PHRASES[o.motion]
        if k == 0:
            return f"a {o.size} {o.colour} {o.shape} is moving {phrase[0]} towards {o.direction}"
        if k == 1:
            return f"the {o.size} {o.colour} {o.shape} moves {phrase[1]} towards {o.direction}"
        return f"a {o.colour} {o.shape}, {o.size}, moving {phrase[0]} to the {o.direction}"
    texts = [" and ".join(one(o, k) for o in objects) for k in range(3)]
    texts[0] = texts[0][0].upper() + texts[0][1:]
    return texts


def labels(objects: list[ShapeObject]) -> dict[str, str]:
    if len(objects) == 1:
        return {a: getattr(objects[0], a) for a in ATTRIBUTES}
    return {f"obj{i + 1}_{a}": getattr(o, a) for i, o in enumerate(objects) for a in ATTRIBUTES}


def label_vocab(num_objects: int) -> dict[str, list[str]]:
    vocab = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "motion": MOTIONS, "direction": DIRECTIONS}
    if num_objects == 1:
        return vocab
    return {f"obj{i + 1}_{a}": vocab[a] for i in range(num_objects) for a in ATTRIBUTES}


def sample_object(rng: np.random.Generator, triples: list[tuple[str, str, str]]) -> ShapeObject:
    shape, colour, size = triples[rng.integers(len(triples))]
    motion = MOTIONS[rng.integers(3)]
    dirs = DIAGONAL_DIRECTIONS if motion == "diagonal" else AXIS_DIRECTIONS
    return ShapeObject(shape, colour, size, motion, dirs[rng.integers(4)])


def offsets(o: ShapeObject, rng: np.random.Generator, frames: int) -> np.ndarray:
    """Trajectory relative to the start, [T, 2] in frame widths."""
    tt = np.arange(frames, dtype=np.float32) / max(frames - 1, 1)
    ux, uy = UNIT[o.direction]
    main = np.array([ux, uy], np.float32)
    dist = {"straight": (0.32, 0.5), "zigzag": (0.28, 0.42), "diagonal": (0.28, 0.4)}[o.motion]  # per axis
    dist = rng.uniform(*dist)
    path = dist * tt[:, None] * main
    if o.motion == "zigzag":  # triangle wave across the direction of travel, about two periods per clip
        side = np.array([-uy, ux], np.float32)
        cycles = rng.uniform(1.6, 2.4)
        phase = np.abs(((tt * cycles + 0.25) % 1.0) * 4 - 2) - 1  # in [-1, 1]
        path = path + rng.uniform(0.09, 0.13) * phase[:, None] * side
    return path


def place(rng: np.random.Generator, path: np.ndarray, radius: float) -> np.ndarray:
    """Start point such that a disc of `radius` around every trajectory point stays inside [0, 1]^2."""
    lo = radius - path.min(0)
    hi = 1.0 - radius - path.max(0)
    return rng.uniform(lo, np.maximum(lo, hi))


def draw_object(c: Canvas, o: ShapeObject, centre: np.ndarray) -> None:
    """Paint `o` at pixel centres [T, 2]."""
    s = c.w
    r = RADIUS[o.size] * s
    colour = RGB[o.colour]
    x, y = centre[:, 0], centre[:, 1]
    if o.shape == "circle":
        c.circle(x, y, r * 0.92, colour)
    elif o.shape == "square":
        h = r * 0.72  # inscribed in the bounding circle (r / sqrt 2 = 0.707 r), rounded by the soft edge
        c.polygon(np.stack([np.stack([x - h, y - h], -1), np.stack([x + h, y - h], -1),
                            np.stack([x + h, y + h], -1), np.stack([x - h, y + h], -1)], axis=1), colour)
    else:  # equilateral, pointing up, centred on its circumcentre
        ang = np.deg2rad([-90.0, 30.0, 150.0])
        verts = centre[:, None, :] + 0.98 * r * np.stack([np.cos(ang), np.sin(ang)], -1)[None]
        c.polygon(verts, colour)


def render_clip(objects: list[ShapeObject], rng: np.random.Generator, size: int = 64,
                frames: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Render objects; returns (uint8 [T, S, S, 3], centres [num_objects, T, 2] in pixels)."""
    paths = [offsets(o, rng, frames) for o in objects]
    starts = [place(rng, p, RADIUS[o.size]) for o, p in zip(objects, paths)]
    if len(objects) == 2:  # prefer starts that keep the two objects apart; fall back to the last try
        need = 0.8 * (RADIUS[objects[0].size] + RADIUS[objects[1].size])
        for _ in range(30):
            gap = np.hypot(*((starts[0] + paths[0]) - (starts[1] + paths[1])).T).min()
            if gap >= need:
                break
            starts = [place(rng, p, RADIUS[o.size]) for o, p in zip(objects, paths)]
    centres = np.stack([(st + p) * size for st, p in zip(starts, paths)]).astype(np.float32)
    c = Canvas.blank(frames, size, size)
    for o, centre in zip(objects, centres):
        draw_object(c, o, centre)
    return c.to_uint8(), centres


# ----------------------------------------------------------------------------------------------------------------
# Builder

ALL_TRIPLES = [(s, c, z) for s in SHAPES for c in COLOURS for z in SIZES]


def parse_triples(text: str) -> list[tuple[str, str, str]]:
    """"circle:red:large,square:blue:small" -> triples, checked against the vocabularies."""
    triples = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        t = tuple(part.split(":"))
        check(len(t) == 3 and t in ALL_TRIPLES, f"bad held-out triple {part!r}: write shape:colour:size with shape in "
              f"{SHAPES}, colour in {COLOURS}, size in {SIZES}")
        triples.append(t)
    return triples


def split_of(index: int) -> str:
    """Fixed 80/10/10 rule: index % 10 == 8 -> 'val', == 9 -> 'heldout', else 'train'."""
    return {8: "val", 9: "heldout"}.get(index % 10, "train")


def sample_objects(rng: np.random.Generator, count: int, split: str,
                   heldout: list[tuple[str, str, str]]) -> list[ShapeObject]:
    """Objects for one item: train/val never use a held-out triple; a 'heldout' item has exactly one object
    with a held-out triple (at a random position). Two objects differ in shape or colour where possible."""
    seen = [t for t in ALL_TRIPLES if t not in heldout]
    pools = [heldout] if split == "heldout" else []
    pools += [seen] * (count - len(pools))
    objects: list[ShapeObject] = []
    for pool in pools:  # the held-out object first: the seen pool almost always has a triple that differs from it
        free = [t for t in pool if all(t[:2] != (o.shape, o.colour) for o in objects)] or pool
        objects.append(sample_object(rng, free))
    if split == "heldout" and count == 2 and rng.integers(2):
        objects.reverse()
    return objects


def build_moving_shapes(out: str | Path, objects: int = 1, num: int = 4000, size: int = 64, frames: int = 16,
                        seed: int = 0, heldout: list[tuple[str, str, str]] | None = None, fps: int = 8,
                        overwrite: bool = False, previews: int = 8, progress_bar: bool = True) -> dict:
    """Render `num` clips of `objects` moving shapes into a built dataset (kind "video") at `out`."""
    heldout = list(DEFAULT_HELDOUT if heldout is None else heldout)
    check(objects in (1, 2), f"--objects must be 1 or 2, got {objects}")
    check(num >= 1, f"--num must be at least 1, got {num}")
    check(size >= 16, f"--size must be at least 16 pixels, got {size}")
    check(frames >= 2, f"--frames must be at least 2, got {frames}")
    check(0 < len(set(heldout)) < len(ALL_TRIPLES), "--heldout must name at least one and not every triple")
    meta = {
        "builder": "moving_shapes", "seed": seed,
        "args": {"objects": objects, "num": num, "size": size, "frames": frames, "seed": seed, "fps": fps},
        "objects": objects,
        "heldout_combinations": [{"shape": s, "colour": c, "size": z} for s, c, z in heldout],
        "heldout_attributes": ["shape", "colour", "size"],
        "split_rule": "index % 10 == 8 -> val, == 9 -> heldout, else train; train/val objects never have a held-out "
                      "(shape, colour, size); every heldout item has exactly one object that has one",
        "directions": {"straight": AXIS_DIRECTIONS, "zigzag": AXIS_DIRECTIONS, "diagonal": DIAGONAL_DIRECTIONS},
    }
    writer = DatasetWriter(out, "video", (frames, size, size, 3), fps=fps, labels=label_vocab(objects), meta=meta,
                           overwrite=overwrite)

    def fill(w: DatasetWriter) -> None:
        for i in progress(range(num), num, f"shapes{objects}", progress_bar):
            rng = np.random.default_rng([seed, i])
            split = split_of(i)
            objs = sample_objects(rng, objects, split, heldout)
            clip, _ = render_clip(objs, rng, size, frames)
            w.add(clip, captions(objs), labels(objs), split, id=f"{i:06d}")

    return write(writer, fill, previews)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/moving_shapes.py", description="Build the Moving Shapes text-to-video "
                                "set: one or two shapes moving straight, in a zigzag or diagonally, with captions.")
    p.add_argument("--out", default=None, help="output directory (default: data/shapes1 or data/shapes2)")
    p.add_argument("--objects", type=int, choices=(1, 2), default=1, help="objects per clip (default: 1)")
    p.add_argument("--num", type=int, default=4000, help="number of clips (default: 4000)")
    p.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default: 64)")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    p.add_argument("--fps", type=int, default=8, help="frame rate stored in meta and previews (default: 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout", type=parse_triples, default=None, metavar="SHAPE:COLOUR:SIZE,...",
                   help="(shape, colour, size) triples kept out of train/val (default: "
                        + ",".join(":".join(t) for t in DEFAULT_HELDOUT) + ")")
    p.add_argument("--previews", type=int, default=8, help="number of preview clips written (0 = none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    return p


def main(argv: list[str] | None = None) -> dict:
    a = parser().parse_args(argv)
    out = a.out or f"data/shapes{a.objects}"
    summary = build_moving_shapes(out, a.objects, a.num, a.size, a.frames, a.seed, a.heldout, a.fps, a.overwrite,
                                  a.previews)
    print(describe(summary))
    return summary
