"""Scene-Actions: procedural text-to-video clips of 6 actions in 5 places, with held-out combinations.

A stand-in for the Kinetics-derived caption/video set of Li et al. (2018): a side view of one actor (a person, a
boat, a bike ...) doing an action in a place whose background has its own texture and motion. Every clip is
rendered from its own RNG (`seed`, item index), so any item can be regenerated alone.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from einops import rearrange

from ..format import DatasetWriter
from .builder import check, describe, progress, write
from .draw import Canvas, rotate, smooth_noise

ACTIONS = ["golf", "jog", "swim", "sail", "kitesurf", "bike"]
PLACES = ["grass", "snow", "sea", "sand", "pool"]
DIRECTIONS = ["left", "right"]
DEFAULT_HELDOUT = [("golf", "snow"), ("sail", "grass"), ("jog", "sea"), ("kitesurf", "snow"), ("bike", "sand")]


@dataclass(frozen=True)
class Verb:
    base: str  # "play golf"  (short form: "<base> <place short>")
    third: str  # "plays golf"
    gerund: str  # "playing golf"
    noun: str  # "golfing"


@dataclass(frozen=True)
class Where:
    short: str  # "on snow"
    article: str  # "on the snow"
    alt: str  # "in the snow"


VERBS = {
    "golf": Verb("play golf", "plays golf", "playing golf", "golfing"),
    "jog": Verb("jog", "jogs", "jogging", "jogging"),
    "swim": Verb("swim", "swims", "swimming", "swimming"),
    "sail": Verb("sail", "sails", "sailing", "sailing"),
    "kitesurf": Verb("kitesurf", "kitesurfs", "kitesurfing", "kitesurfing"),
    "bike": Verb("bike", "bikes", "biking", "riding a bike"),
}
WHERE = {
    "grass": Where("on grass", "on the grass", "on a grass field"),
    "snow": Where("on snow", "on the snow", "in the snow"),
    "sea": Where("on sea", "on the sea", "in the sea"),
    "sand": Where("on sand", "on the sand", "in the sand"),
    "pool": Where("in the swimming pool", "in a swimming pool", "in the pool"),
}
CAPTION_TEMPLATES = [
    "{base} {short}",
    "a person {gerund} {article}",
    "{noun} {alt}",
    "someone {third} {short}",
    "a person is {gerund} {alt}, {heading}",
    "someone {third} {article} {heading}",
]


def short_caption(action: str, place: str) -> str:
    """The canonical short form, e.g. "play golf on snow", "swim in the swimming pool"."""
    return f"{VERBS[action].base} {WHERE[place].short}"


def captions(action: str, place: str, direction: str) -> list[str]:
    """All paraphrases of one clip; the first is the short form."""
    verb, where = VERBS[action], WHERE[place]
    heading = f"facing {direction}" if action == "golf" else f"moving to the {direction}"
    fields = dict(base=verb.base, third=verb.third, gerund=verb.gerund, noun=verb.noun, short=where.short,
                  article=where.article, alt=where.alt, heading=heading)
    return [t.format(**fields) for t in CAPTION_TEMPLATES]


# ----------------------------------------------------------------------------------------------------------------
# Backgrounds: each returns the place's frames [T, S, S, 3] (float32) and the y range where actors stand.

@dataclass
class Stage:
    canvas: Canvas
    ground: tuple[float, float]  # y range (pixels) for the actor's base line
    horizon: float  # y of the horizon (top of the water / ground)
    overlay: Callable[[Canvas], None] | None = None  # drawn over the actor (falling snow)


def _gradient(top, bottom, n: int) -> np.ndarray:
    w = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    return (1 - w) * np.asarray(top, np.float32) + w * np.asarray(bottom, np.float32)  # [n, 3]


def _sky_and_ground(t: int, s: int, horizon: int, sky: np.ndarray, ground: np.ndarray) -> Canvas:
    """Frames from a sky [horizon, 3] gradient (rows) and a static ground image [s - horizon, s, 3]."""
    img = np.empty((s, s, 3), np.float32)
    img[:horizon] = sky[:, None, :]
    img[horizon:] = ground
    return Canvas(np.repeat(img[None], t, axis=0))


def _clouds(rng: np.random.Generator, c: Canvas, horizon: int) -> None:
    s, t = c.w, np.arange(c.t, dtype=np.float32)
    for _ in range(rng.integers(1, 4)):
        cx = rng.uniform(0, s) + rng.uniform(-0.15, 0.15) * s * t / max(c.t - 1, 1)
        cy = rng.uniform(0.08, 0.7) * horizon
        rx = rng.uniform(0.08, 0.16) * s
        for dx, k in ((-0.6, 0.7), (0.0, 1.0), (0.6, 0.75)):
            c.ellipse(cx + dx * rx, cy - (k - 0.7) * rx * 0.3, rx * 0.55 * k, rx * 0.3 * k, (0.97, 0.97, 1.0),
                      opacity=0.85)


def _grass(rng: np.random.Generator, t: int, s: int) -> Stage:
    horizon = int(rng.uniform(0.26, 0.36) * s)
    gh = s - horizon
    y, x = np.mgrid[0:gh, 0:s].astype(np.float32)
    period = rng.uniform(0.2, 0.3) * s
    stripes = 0.05 * np.sign(np.sin(2 * np.pi * (x + 0.6 * y * rng.choice([-1, 1])) / period))
    blades = rng.random((gh + 2, s), dtype=np.float32)
    blades = (blades[:-2] + blades[1:-1] + blades[2:]) / 3  # vertical streaks
    shade = stripes + 0.22 * (blades - 0.5) + 0.08 * (y / gh)
    ground = np.asarray((0.22, 0.58, 0.16), np.float32) + shade[..., None] * np.asarray((0.6, 1.0, 0.5), np.float32)
    ground[:max(1, s // 32)] = (0.1, 0.32, 0.1)  # hedge on the horizon
    c = _sky_and_ground(t, s, horizon, _gradient((0.35, 0.6, 0.95), (0.72, 0.86, 1.0), horizon), ground)
    _clouds(rng, c, horizon)
    return Stage(c, (horizon + 0.45 * gh, s - 0.06 * s), horizon)


def _snow(rng: np.random.Generator, t: int, s: int) -> Stage:
    horizon = int(rng.uniform(0.3, 0.4) * s)
    gh = s - horizon
    drift = smooth_noise(rng, gh, s, cell=s / 6)
    ground = np.asarray((0.95, 0.96, 1.0), np.float32) - (drift[..., None] * np.asarray((0.14, 0.1, 0.03), np.float32))
    c = _sky_and_ground(t, s, horizon, _gradient((0.66, 0.69, 0.74), (0.84, 0.86, 0.9), horizon), ground)
    for _ in range(rng.integers(3, 7)):  # pine trees on the horizon
        px, ph = rng.uniform(0, s), rng.uniform(0.09, 0.17) * s
        pw = ph * rng.uniform(0.3, 0.4)
        c.polygon(np.array([[px, horizon + 1 - ph], [px - pw, horizon + 1], [px + pw, horizon + 1]]), (0.1, 0.27, 0.18))

    n = int(rng.integers(50, 90) * (s / 64) ** 2)
    fx, fy = rng.uniform(0, s, n), rng.uniform(0, s, n)
    vy, vx = rng.uniform(0.6, 1.4, n) * s / 64, rng.uniform(-0.4, 0.4) * s / 64
    wobble, phase = rng.uniform(0.3, 1.0, n), rng.uniform(0, 2 * np.pi, n)

    def snowfall(canvas: Canvas) -> None:
        tt = np.arange(canvas.t, dtype=np.float32)[:, None]
        xs = (fx + vx * tt + wobble * np.sin(0.5 * tt + phase)) % s
        ys = (fy + vy * tt) % s
        _splat(canvas, xs, ys, (1.0, 1.0, 1.0), 0.9)

    return Stage(c, (horizon + 0.45 * gh, s - 0.06 * s), horizon, snowfall)


def _splat(c: Canvas, xs: np.ndarray, ys: np.ndarray, color, opacity: float) -> None:
    """Blend one-pixel points (xs, ys: [T, N] pixel coordinates) with bilinear weights."""
    alpha = np.zeros((c.t, c.h, c.w), np.float32)
    x0, y0 = np.floor(xs - 0.5).astype(int), np.floor(ys - 0.5).astype(int)
    fx, fy = xs - 0.5 - x0, ys - 0.5 - y0
    frame = np.broadcast_to(np.arange(c.t)[:, None], xs.shape)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(alpha, (frame, np.clip(y0 + dy, 0, c.h - 1), np.clip(x0 + dx, 0, c.w - 1)), w)
    alpha = np.clip(alpha * 1.6, 0, 1)[..., None] * opacity
    c.frames += alpha * (np.asarray(color, np.float32) - c.frames)


def _sea(rng: np.random.Generator, t: int, s: int) -> Stage:
    horizon = int(rng.uniform(0.28, 0.38) * s)
    gh = s - horizon
    water = _gradient((0.1, 0.36, 0.62), (0.02, 0.16, 0.4), gh)[:, None, :].repeat(s, 1)
    c = _sky_and_ground(t, s, horizon, _gradient((0.38, 0.62, 0.95), (0.74, 0.87, 1.0), horizon), water)
    _clouds(rng, c, horizon)
    # Wave crests: light horizontal dashes on rows spaced by perspective, drifting sideways.
    rows = max(4, int(gh / (2.6 * s / 64)))
    depth = ((np.arange(rows, dtype=np.float32) + 0.5) / rows) ** 1.4  # 0 at the horizon, 1 at the bottom
    ys = (horizon + 1 + depth * (gh - 2)).astype(int)
    wavelength = rng.uniform(0.12, 0.18) * s * (0.4 + depth)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, rows)[None, :, None]
    speed = rng.uniform(0.4, 0.7) * rng.choice([-1, 1]) * (0.5 + depth)[None, :, None]
    x = np.arange(s, dtype=np.float32)[None, None, :]
    tt = np.arange(t, dtype=np.float32)[:, None, None]
    wave = np.sin(2 * np.pi * (x - speed * tt * s / 64) / wavelength + phase)
    crest = np.clip((wave - 0.35) / 0.4, 0, 1) * (0.45 + 0.4 * depth)[None, :, None]  # [T, rows, S]
    foam = np.asarray((0.82, 0.93, 1.0), np.float32)
    c.frames[:, ys] += crest[..., None] * (foam - c.frames[:, ys])
    return Stage(c, (horizon + 0.45 * gh, s - 0.06 * s), horizon)


def _sand(rng: np.random.Generator, t: int, s: int) -> Stage:
    horizon = int(rng.uniform(0.28, 0.38) * s)
    gh = s - horizon
    y, x = np.mgrid[0:gh, 0:s].astype(np.float32)
    warp = smooth_noise(rng, gh, s, cell=s / 4) * 0.35 * s
    ripples = np.sin(2 * np.pi * (y + 0.35 * x + warp) / (rng.uniform(0.07, 0.1) * s))
    grains = rng.random((gh, s), dtype=np.float32) - 0.5
    shade = 0.07 * ripples + 0.16 * grains - 0.06 * (1 - y / gh)
    ground = np.asarray((0.9, 0.76, 0.5), np.float32) + shade[..., None] * np.asarray((1.0, 0.9, 0.7), np.float32)
    c = _sky_and_ground(t, s, horizon, _gradient((0.5, 0.72, 0.95), (0.93, 0.9, 0.82), horizon), ground)
    dune_x, dune_w = rng.uniform(0.2, 0.8) * s, rng.uniform(0.3, 0.5) * s  # a distant dune
    c.ellipse(dune_x, horizon + 1, dune_w, 0.08 * s, (0.83, 0.66, 0.42))
    return Stage(c, (horizon + 0.45 * gh, s - 0.06 * s), horizon)


def _pool(rng: np.random.Generator, t: int, s: int) -> Stage:
    deck = int(rng.uniform(0.14, 0.2) * s)
    gh = s - deck
    y, x = np.mgrid[0:s, 0:s].astype(np.float32)
    tile = max(3, s // 10)
    deck_img = np.where(((x[:deck] % tile) < 1) | ((y[:deck] % tile) < 1), 0.68, 0.88)[..., None].repeat(3, -1)
    deck_img[-max(1, s // 32):] = (0.12, 0.28, 0.6)  # pool edge
    water = np.broadcast_to(_gradient((0.3, 0.78, 0.9), (0.12, 0.6, 0.82), gh)[:, None, :], (gh, s, 3))
    img = np.concatenate([deck_img.astype(np.float32), water], axis=0)
    frames = np.repeat(img[None], t, axis=0)
    # Caustics: a bright moving net where two travelling ripple fields cancel.
    tt = np.arange(t, dtype=np.float32)[:, None, None]
    k = 2 * np.pi / (0.22 * s)
    a1, a2 = rng.uniform(0, 2 * np.pi, 2)
    field = (np.sin(k * (x[deck:] * np.cos(a1) + y[deck:] * np.sin(a1)) + 0.6 * tt)
             + np.sin(k * (x[deck:] * np.cos(a2) + y[deck:] * np.sin(a2)) - 0.5 * tt))
    frames[:, deck:] += (0.22 * np.clip(1 - np.abs(field) * 2.5, 0, 1))[..., None]
    # Lane ropes: red and white floats, drifting a little with the water.
    float_len = max(2, s // 16)
    lanes = np.arange(deck + rng.uniform(0.2, 0.32) * s, s - 2, rng.uniform(0.28, 0.34) * s)
    for ly in lanes:
        shift = rng.uniform(0, 2 * float_len) + 0.6 * np.sin(0.6 * np.arange(t) + rng.uniform(0, 6))
        pattern = ((x[0][None, :] + shift[:, None]) // float_len) % 2  # [T, s]
        color = np.where(pattern[..., None] > 0, np.float32((0.92, 0.1, 0.1)), np.float32((0.97, 0.97, 0.97)))
        r0 = int(ly)
        frames[:, r0:r0 + max(2, s // 32)] = color[:, None]
    return Stage(Canvas(frames), (deck + 0.3 * gh, s - 0.06 * s), float(deck))


BACKGROUNDS: dict[str, Callable[[np.random.Generator, int, int], Stage]] = {
    "grass": _grass, "snow": _snow, "sea": _sea, "sand": _sand, "pool": _pool,
}

# ----------------------------------------------------------------------------------------------------------------
# Actors. Local coordinates: x forward (the facing direction), y down, in pixels; angles measured from straight
# down, positive = swung forward.

CLOTHES = [(0.86, 0.1, 0.1), (0.85, 0.12, 0.62), (0.48, 0.15, 0.75), (0.12, 0.16, 0.6), (0.08, 0.08, 0.08),
           (0.96, 0.45, 0.05)]
PANTS = [(0.12, 0.12, 0.16), (0.18, 0.22, 0.42), (0.3, 0.2, 0.12)]
SKIN = [(0.96, 0.8, 0.66), (0.8, 0.6, 0.45), (0.55, 0.38, 0.25)]
BRIGHT = [(1.0, 0.85, 0.05), (1.0, 0.5, 0.0), (0.1, 0.85, 0.3), (0.95, 0.2, 0.6), (0.95, 0.15, 0.15)]


@dataclass
class Look:
    shirt: np.ndarray
    pants: np.ndarray
    skin: np.ndarray
    accent: np.ndarray  # kite, sail, bike frame


def _limb(start: np.ndarray, angle: np.ndarray, length: float) -> np.ndarray:
    """End point [T, 2] of a limb from `start` [T, 2] at `angle` [T] (0 = down, + = forward)."""
    return start + length * np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def _knee(hip: np.ndarray, foot: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Two-link inverse kinematics: the knee between hip and foot, bending forward."""
    d = foot - hip
    dist = np.clip(np.hypot(d[:, 0], d[:, 1]), 1e-3, l1 + l2 - 1e-3)
    cos_a = np.clip((l1 ** 2 + dist ** 2 - l2 ** 2) / (2 * l1 * dist), -1, 1)
    unit = d / dist[:, None]
    return hip + l1 * rotate(unit[:, None, :], -np.arccos(cos_a))[:, 0]


class Actor:
    """Draws in local coordinates around an anchor that moves along x; `facing` (+1 right, -1 left) mirrors x."""

    def __init__(self, canvas: Canvas, anchor_x: np.ndarray, anchor_y: np.ndarray, facing: int, scale: float,
                 travel: float):
        self.c, self.ax, self.ay, self.f, self.k = canvas, anchor_x, anchor_y, facing, scale
        self.travel = travel  # pixels moved over the clip

    def px(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local [T, ..., 2] (in units of the frame size) to pixel x, y arrays [T, ...]."""
        extra = (1,) * (p.ndim - 2)
        ax, ay = self.ax.reshape(-1, *extra), self.ay.reshape(-1, *extra)
        return ax + self.f * p[..., 0] * self.k, ay + p[..., 1] * self.k

    def lines(self, chains: list[list[np.ndarray]], width: float, color, opacity=1.0) -> None:
        segments = []
        for chain in chains:
            pts = [self.px(p) for p in chain]
            segments += [(a[0], a[1], b[0], b[1]) for a, b in zip(pts[:-1], pts[1:])]
        self.c.lines(segments, width * self.k, color, opacity)

    def circle(self, p: np.ndarray, r: float, color, opacity=1.0) -> None:
        x, y = self.px(p)
        self.c.circle(x, y, r * self.k, color, opacity)

    def polygon(self, pts: np.ndarray, color, opacity=1.0) -> None:
        """pts [T, K, 2] local; mirrored polygons keep convexity."""
        x, y = self.px(pts)
        self.c.polygon(np.stack([x, y], axis=-1), color, opacity)


THIGH, SHIN, UPPER_ARM, FOREARM, TORSO, HEAD = 0.085, 0.085, 0.065, 0.06, 0.13, 0.042
LEG_W, ARM_W, TORSO_W = 0.042, 0.034, 0.07


def _person(a: Actor, hip: np.ndarray, lean: np.ndarray, legs: tuple[np.ndarray, ...] | None,
            arms: tuple[np.ndarray, ...], look: Look,
            feet: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stick person (near limbs first in each pair). legs = (thigh, shin) x2 absolute angles, or feet = two foot
    positions [T, 2] reached by inverse kinematics; arms = (upper, fore) x2 absolute angles. Returns the hands."""
    up = np.stack([np.sin(lean), -np.cos(lean)], -1) * np.ones((len(hip), 1), np.float32)  # along the torso
    neck, shoulder, head = hip + TORSO * up, hip + (TORSO - 0.015) * up, hip + (TORSO + 1.2 * HEAD) * up
    if feet is not None:
        knees = [_knee(hip, f, THIGH, SHIN) for f in feet]
        leg_chains = [[hip, knees[i], feet[i]] for i in range(2)]
    else:
        leg_chains = []
        for th, sh in (legs[0:2], legs[2:4]):
            knee = _limb(hip, th, THIGH)
            leg_chains.append([hip, knee, _limb(knee, sh, SHIN)])
    arm_chains = []
    for up, fo in (arms[0:2], arms[2:4]):
        elbow = _limb(shoulder, up, UPPER_ARM)
        arm_chains.append([shoulder, elbow, _limb(elbow, fo, FOREARM)])
    dark = lambda col: col * 0.7
    a.lines([leg_chains[1]], LEG_W, dark(look.pants))
    a.lines([arm_chains[1]], ARM_W, dark(look.shirt))
    a.lines([[hip, neck]], TORSO_W, look.shirt)
    a.lines([leg_chains[0]], LEG_W, look.pants)
    a.lines([arm_chains[0]], ARM_W, look.shirt)
    a.circle(head, HEAD, look.skin)
    return arm_chains[0][2], arm_chains[1][2]


def _pt(x: float | np.ndarray, y: float | np.ndarray, t: int) -> np.ndarray:
    """A local point [T, 2] from scalar or [T] coordinates."""
    return np.stack([np.broadcast_to(np.asarray(v, np.float32), (t,)) for v in (x, y)], -1)


def _golf(a: Actor, rng: np.random.Generator, look: Look) -> None:
    t = a.c.t
    tt = np.arange(t, dtype=np.float32)
    leg = THIGH + SHIN
    hip = _pt(0.0, -0.96 * leg, t)
    swing = 2.3 * np.sin(rng.uniform(0.45, 0.6) * tt + rng.uniform(0, 2 * np.pi))  # backswing <-> follow-through
    # a hole flag behind or ahead of the golfer, wherever it is inside the frame
    offsets = np.concatenate([np.linspace(-0.45, -0.25, 9), np.linspace(0.3, 0.45, 7)])
    inside = np.abs(a.ax[0] + a.f * offsets * a.k - a.c.w / 2) < 0.44 * a.c.w
    flag_x = rng.choice(offsets[inside]) if inside.any() else offsets[0]
    a.lines([[_pt(flag_x, 0.0, t), _pt(flag_x, -0.3, t)]], 0.02, (0.95, 0.95, 0.95))
    a.polygon(np.broadcast_to(np.array([[flag_x, -0.3], [flag_x, -0.22], [flag_x - 0.11, -0.26]], np.float32),
                              (t, 3, 2)), (0.95, 0.05, 0.05))
    a.circle(_pt(0.16, -0.012, t), 0.018, (1.0, 1.0, 1.0))  # the ball
    hand, _ = _person(a, hip, np.float32(0.35), (np.float32(0.22), np.float32(0.1), np.float32(-0.22),
                                                 np.float32(-0.1)), (swing, swing, swing - 0.1, swing - 0.1), look)
    club_end = _limb(hand, swing + 0.3 * np.sign(swing), 0.2)
    a.lines([[hand, club_end]], 0.022, (0.1, 0.1, 0.1))
    a.lines([[_limb(club_end, swing + 1.6, -0.005), _limb(club_end, swing + 1.6, 0.045)]], 0.035, (0.55, 0.55, 0.6))


def _jog(a: Actor, rng: np.random.Generator, look: Look) -> None:
    t = a.c.t
    p = rng.uniform(0.8, 1.1) * np.arange(t, dtype=np.float32) + rng.uniform(0, 2 * np.pi)
    hip = _pt(0.0, -0.93 * (THIGH + SHIN) - 0.025 * np.abs(np.sin(p)), t)
    legs = []
    for q in (p, p + np.pi):
        thigh = 0.65 * np.sin(q)
        legs += [thigh, thigh - 0.55 - 0.55 * np.cos(q)]
    arms = []
    for q in (p + np.pi, p):
        upper = 0.75 * np.sin(q)
        arms += [upper, upper + 1.5]
    _person(a, hip, np.float32(0.22), tuple(legs), tuple(arms), look)


def _swim(a: Actor, rng: np.random.Generator, look: Look) -> None:
    t = a.c.t
    p = rng.uniform(0.55, 0.8) * np.arange(t, dtype=np.float32) + rng.uniform(0, 2 * np.pi)
    hip = _pt(0.03, -0.02, t)
    kick = 0.25 * np.sin(2.5 * p)
    legs = (-np.pi / 2 + 0.05 + kick, -np.pi / 2 + 0.05 + kick, -np.pi / 2 - 0.05 - kick, -np.pi / 2 - 0.05 - kick)
    arms = (p, p, p + np.pi, p + np.pi)  # windmill strokes
    hands = _person(a, hip, np.float32(np.pi / 2 - 0.08), legs, arms, look)
    splash = 0.5 + 0.5 * np.sin(2.5 * p)
    for hand in hands:
        below = np.clip((hand[:, 1] - hip[:, 1]) / 0.05, 0, 1)
        a.circle(np.stack([hand[:, 0], np.full(t, -0.02, np.float32)], -1), 0.03, (0.95, 0.97, 1.0), 0.7 * below)
    a.circle(_pt(0.03 - THIGH - SHIN, -0.02, t), 0.03, (0.95, 0.97, 1.0), 0.8 * splash)


def _sail(a: Actor, rng: np.random.Generator, look: Look) -> None:
    t = a.c.t
    rock = 0.07 * np.sin(rng.uniform(0.4, 0.7) * np.arange(t) + rng.uniform(0, 6))
    hull = np.array([[-0.22, -0.07], [0.25, -0.07], [0.16, 0.0], [-0.16, 0.0]], np.float32)
    mast = np.array([[0.0, -0.07], [0.0, -0.47]], np.float32)
    main = np.array([[-0.015, -0.45], [-0.015, -0.1], [-0.2, -0.1]], np.float32)
    jib = np.array([[0.015, -0.42], [0.015, -0.1], [0.19, -0.1]], np.float32)
    a.polygon(rotate(main, rock), look.accent)
    a.polygon(rotate(jib, rock), (0.98, 0.98, 0.96))
    m = rotate(mast, rock)
    a.lines([[m[:, 0], m[:, 1]]], 0.02, (0.25, 0.18, 0.12))
    a.polygon(rotate(hull, rock), look.shirt)
    deck = rotate(hull[:2], rock)
    a.lines([[deck[:, 0], deck[:, 1]]], 0.02, (0.96, 0.96, 0.96))


def _kitesurf(a: Actor, rng: np.random.Generator, look: Look) -> None:
    t = a.c.t
    tt = np.arange(t, dtype=np.float32)
    bob = 0.015 * np.sin(rng.uniform(0.6, 1.0) * tt + rng.uniform(0, 6))
    board_y = -0.02 + bob
    feet = (_pt(0.05, board_y - 0.012, t), _pt(-0.06, board_y - 0.012, t))
    hip = _pt(-0.035, board_y - 0.75 * (THIGH + SHIN), t)
    # spray behind the board
    for k, r in ((0.16, 0.03), (0.23, 0.022)):
        a.circle(_pt(-k, board_y - 0.01, t), r, (0.98, 0.98, 1.0), 0.55 + 0.35 * np.sin(1.3 * tt + 7 * k))
    a.lines([[_pt(-0.12, board_y + 0.005, t), _pt(0.12, board_y - 0.005, t)]], 0.03, look.accent)
    arms = (np.full(t, 2.2, np.float32), np.full(t, 2.0, np.float32), np.full(t, 2.3, np.float32),
            np.full(t, 2.1, np.float32))
    hands = _person(a, hip, np.float32(-0.4), None, arms, look, feet=feet)
    # kite: an arc high up and ahead, tied to the hands
    sway = 0.04 * np.sin(rng.uniform(0.3, 0.5) * tt + rng.uniform(0, 6))
    centre = np.stack([0.2 + sway, -0.74 + 0.5 * sway], -1)
    ang = np.linspace(-1.1, 1.1, 6, dtype=np.float32)
    arc = centre[:, None, :] + 0.15 * np.stack([np.sin(ang), 0.5 - 0.5 * np.cos(ang)], -1)[None]
    arc = rotate(arc - centre[:, None], sway * 2) + centre[:, None]
    hand = (hands[0] + hands[1]) / 2
    a.lines([[hand, arc[:, 0]], [hand, arc[:, -1]]], 0.009, (0.15, 0.15, 0.15))
    a.lines([[arc[:, i] for i in range(arc.shape[1])]], 0.05, look.accent)


def _bike(a: Actor, rng: np.random.Generator, look: Look) -> None:
    t = a.c.t
    r, base = 0.075, 0.12
    wheels = [_pt(-base, -r, t), _pt(base, -r, t)]
    roll = a.travel / (r * a.k) * np.arange(t, dtype=np.float32) / max(t - 1, 1)
    crank = _pt(0.0, -r, t)
    seat, bar = _pt(-0.05, -r - 0.13, t), _pt(0.1, -r - 0.15, t)
    for w in wheels:
        spokes = [[w + 0.9 * r * np.stack([np.cos(roll + q), np.sin(roll + q)], -1),
                   w - 0.9 * r * np.stack([np.cos(roll + q), np.sin(roll + q)], -1)] for q in (0, np.pi / 2)]
        a.lines(spokes, 0.012, (0.55, 0.55, 0.55))
        a.c.ring(*a.px(w), r * a.k, 0.028 * a.k, (0.08, 0.08, 0.08))
    a.lines([[wheels[0], crank, seat, wheels[0]], [crank, bar, wheels[1]]], 0.028, look.accent)
    pedal = rng.uniform(0.7, 1.0) * np.arange(t) + rng.uniform(0, 2 * np.pi)
    feet = tuple(crank + 0.045 * np.stack([np.cos(pedal + q), np.sin(pedal + q)], -1) for q in (0, np.pi))
    hip = seat + _pt(0.0, -0.02, t)
    lean = np.float32(0.75)
    shoulder = hip + (TORSO - 0.015) * np.stack([np.sin(lean), -np.cos(lean)], -1)
    d = bar - shoulder
    reach = np.arctan2(d[:, 0], d[:, 1]).astype(np.float32)
    _person(a, hip, lean, None, (reach + 0.3, reach - 0.3, reach + 0.3, reach - 0.3), look, feet=feet)


@dataclass(frozen=True)
class ActionSpec:
    draw: Callable[[Actor, np.random.Generator, Look], None]
    travel: tuple[float, float]  # distance over the clip, in frame widths
    half_width: float  # for keeping the actor in the frame, in frame widths
    scale: float = 1.0
    submerge: float | None = None  # local y of a water line (negative = above the base line), if any


SPECS = {
    "golf": ActionSpec(_golf, (0.0, 0.03), 0.22),
    "jog": ActionSpec(_jog, (0.3, 0.5), 0.12),
    "swim": ActionSpec(_swim, (0.15, 0.3), 0.25, scale=1.2, submerge=-0.015),
    "sail": ActionSpec(_sail, (0.1, 0.22), 0.24, scale=1.05, submerge=-0.02),
    "kitesurf": ActionSpec(_kitesurf, (0.5, 0.62), 0.2, scale=0.9),
    "bike": ActionSpec(_bike, (0.35, 0.5), 0.2),
}


def render_clip(action: str, place: str, direction: str, rng: np.random.Generator, size: int = 64,
                frames: int = 16) -> np.ndarray:
    """One clip as uint8 [frames, size, size, 3]."""
    spec = SPECS[action]
    stage = BACKGROUNDS[place](rng, frames, size)
    c = stage.canvas
    c.frames *= np.float32(rng.uniform(0.92, 1.06))  # exposure
    c.frames += rng.normal(0, rng.uniform(0.005, 0.02), (size, size, 1)).astype(np.float32)  # static grain
    facing = 1 if direction == "right" else -1
    travel = rng.uniform(*spec.travel) * size
    half = spec.half_width * size
    lo, hi = half, size - half - travel
    x0 = rng.uniform(lo, hi) if hi > lo else (size - travel) / 2
    start = x0 if facing > 0 else size - x0
    tt = np.arange(frames, dtype=np.float32) / max(frames - 1, 1)
    ax = (start + facing * travel * tt).astype(np.float32)
    base = rng.uniform(*stage.ground)
    if action == "kitesurf":  # keep the kite inside the frame
        base = max(base, 0.86 * spec.scale * size)
    ay = np.full(frames, base, np.float32)
    actor = Actor(c, ax, ay, facing, spec.scale * size, travel)
    look = Look(shirt=_jitter(rng, CLOTHES), pants=_jitter(rng, PANTS), skin=np.asarray(SKIN[rng.integers(3)], np.float32),
                accent=_jitter(rng, BRIGHT))
    background = c.frames.copy() if spec.submerge is not None else None
    spec.draw(actor, rng, look)
    if background is not None:  # the part below the water line shows mostly the place behind it
        line = int(round(base + spec.submerge * spec.scale * size))
        c.frames[:, line:] += 0.62 * (background[:, line:] - c.frames[:, line:])
    if stage.overlay is not None:
        stage.overlay(c)
    return c.to_uint8()


def _jitter(rng: np.random.Generator, palette: list[tuple[float, float, float]]) -> np.ndarray:
    base = np.asarray(palette[rng.integers(len(palette))], np.float32)
    return np.clip(base + rng.uniform(-0.05, 0.05, 3).astype(np.float32), 0, 1)


# ----------------------------------------------------------------------------------------------------------------
# Builder

def parse_pairs(text: str) -> list[tuple[str, str]]:
    """"golf:snow,sail:grass" -> [("golf", "snow"), ("sail", "grass")], checked against the vocabularies."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        action, _, place = part.partition(":")
        check(action in ACTIONS and place in PLACES,
              f"bad held-out combination {part!r}: write action:place with action in {ACTIONS} and place in {PLACES}")
        pairs.append((action, place))
    return pairs


def split_of(index: int, num: int, heldout: set[tuple[str, str]], val_fraction: float) -> tuple[str, str, str]:
    """(action, place, split) of item `index`: items cycle through the 30 combinations; in every seen combination
    the last `val_fraction` of its items are 'val', the rest 'train'; held-out combinations are 'heldout'."""
    combos = [(a, p) for a in ACTIONS for p in PLACES]
    c, k = index % len(combos), index // len(combos)
    action, place = combos[c]
    if (action, place) in heldout:
        return action, place, "heldout"
    count = num // len(combos) + (c < num % len(combos))
    n_val = max(1, round(count * val_fraction)) if count >= 2 and val_fraction > 0 else 0
    return action, place, "val" if k >= count - n_val else "train"


def build_scenes(out: str | Path, num: int = 6000, size: int = 64, frames: int = 16, seed: int = 0,
                 heldout: list[tuple[str, str]] | None = None, val_fraction: float = 0.1, fps: int = 8,
                 overwrite: bool = False, previews: int = 8, progress_bar: bool = True) -> dict:
    """Render `num` clips into a built dataset (kind "video") at `out`; returns the writer's summary."""
    heldout = list(DEFAULT_HELDOUT if heldout is None else heldout)
    check(num >= 1, f"--num must be at least 1, got {num}")
    check(size >= 16, f"--size must be at least 16 pixels, got {size}")
    check(frames >= 2, f"--frames must be at least 2, got {frames}")
    check(0 <= val_fraction < 1, f"--val-fraction must be in [0, 1), got {val_fraction}")
    check(len(set(heldout)) < len(ACTIONS) * len(PLACES), "--heldout must leave at least one combination to train on")
    meta = {
        "builder": "scenes", "seed": seed,
        "args": {"num": num, "size": size, "frames": frames, "seed": seed, "val_fraction": val_fraction, "fps": fps},
        "heldout_combinations": [{"action": a, "place": p, "caption": short_caption(a, p)} for a, p in heldout],
        "split_rule": "items cycle through action x place combinations; held-out combinations -> 'heldout' only; "
                      "in every other combination the last val_fraction of its items -> 'val', the rest 'train'",
        "caption_templates": CAPTION_TEMPLATES,
        "phrases": {"actions": {a: vars(v) for a, v in VERBS.items()}, "places": {p: vars(w) for p, w in WHERE.items()}},
    }
    writer = DatasetWriter(out, "video", (frames, size, size, 3), fps=fps,
                           labels={"action": ACTIONS, "place": PLACES, "direction": DIRECTIONS}, meta=meta,
                           overwrite=overwrite)
    held = set(heldout)
    firsts: dict[tuple[str, str], np.ndarray] = {}

    def fill(w: DatasetWriter) -> None:
        for i in progress(range(num), num, "scenes", progress_bar):
            action, place, split = split_of(i, num, held, val_fraction)
            rng = np.random.default_rng([seed, i])
            direction = DIRECTIONS[rng.integers(len(DIRECTIONS))]
            clip = render_clip(action, place, direction, rng, size, frames)
            w.add(clip, captions(action, place, direction), {"action": action, "place": place, "direction": direction},
                  split, id=f"{action}-{place}-{i:06d}")
            firsts.setdefault((action, place), clip)

    summary = write(writer, fill, previews)
    if previews > 0:
        save_overview(Path(out) / "previews" / "overview.png", firsts)
    return summary


def save_overview(path: Path, clips: dict[tuple[str, str], np.ndarray], frames: int = 4) -> Path:
    """PNG: one row per action, for each place `frames` evenly spaced frames of one clip (black where none)."""
    from ..video import write_png

    some = next(iter(clips.values()))
    t = some.shape[0]
    picks = np.linspace(0, t - 1, frames).round().astype(int)
    blank = np.zeros((frames, *some.shape[1:]), np.uint8)
    grid = np.stack([np.concatenate([clips[(a, p)][picks] if (a, p) in clips else blank for p in PLACES])
                     for a in ACTIONS])
    return write_png(path, rearrange(grid, "a n h w c -> (a h) (n w) c"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/scenes.py", description="Build the Scene-Actions text-to-video set: "
                                "6 actions x 5 places, captions, and held-out action/place combinations.")
    p.add_argument("--out", default="data/scenes", help="output directory (default: data/scenes)")
    p.add_argument("--num", type=int, default=6000, help="number of clips (default: 6000)")
    p.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default: 64)")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    p.add_argument("--fps", type=int, default=8, help="frame rate stored in meta and previews (default: 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout", type=parse_pairs, default=None, metavar="ACTION:PLACE,...",
                   help="combinations kept out of train/val (default: "
                        + ",".join(f"{a}:{p}" for a, p in DEFAULT_HELDOUT) + ")")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of each seen combination put in 'val'")
    p.add_argument("--previews", type=int, default=8, help="number of preview clips written (0 = none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    return p


def main(argv: list[str] | None = None) -> dict:
    a = parser().parse_args(argv)
    summary = build_scenes(a.out, a.num, a.size, a.frames, a.seed, a.heldout, a.val_fraction, a.fps, a.overwrite,
                           a.previews)
    print(describe(summary))
    return summary
