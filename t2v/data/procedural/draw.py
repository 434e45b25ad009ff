"""Anti-aliased vector drawing on a clip of frames with numpy only.

Every primitive is a signed distance function (negative inside, in pixels) evaluated on the pixel centres of the
smallest window that holds the primitive in all frames; coverage is `clip(0.5 - d, 0, 1)`, a one-pixel soft edge.
Geometry arguments are scalars (same in every frame) or arrays of shape [T] (one value per frame).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

ArrayLike = float | np.ndarray
SDF = Callable[[np.ndarray, np.ndarray], np.ndarray]


def per_frame(a: ArrayLike) -> np.ndarray:
    """Shape a scalar or [T] value as [T|1, 1, 1] so it broadcasts against a [h, w] pixel grid."""
    return np.asarray(a, dtype=np.float32).reshape(-1, 1, 1)


def sd_segment(x: np.ndarray, y: np.ndarray, ax: ArrayLike, ay: ArrayLike, bx: ArrayLike, by: ArrayLike) -> np.ndarray:
    """Distance from (x, y) to the segment a-b."""
    ax, ay, bx, by = per_frame(ax), per_frame(ay), per_frame(bx), per_frame(by)
    dx, dy = bx - ax, by - ay
    t = np.clip(((x - ax) * dx + (y - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    return np.hypot(x - ax - t * dx, y - ay - t * dy)


def sd_convex(x: np.ndarray, y: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Signed distance (exact inside, a close bound outside) to a convex polygon; verts [T|1, K, 2] in any winding."""
    verts = np.asarray(verts, dtype=np.float32).reshape(-1, verts.shape[-2], 2)
    nxt = np.roll(verts, -1, axis=1)
    ex, ey = nxt[..., 0] - verts[..., 0], nxt[..., 1] - verts[..., 1]
    length = np.maximum(np.hypot(ex, ey), 1e-6)
    # Orientation decides which side of an edge is inside.
    area = np.sum(verts[..., 0] * nxt[..., 1] - nxt[..., 0] * verts[..., 1], axis=1)
    sign = np.where(area >= 0, 1.0, -1.0).astype(np.float32)[:, None]
    nx, ny = sign * ey / length, -sign * ex / length  # outward unit normals [T, K]
    d = None
    for k in range(verts.shape[1]):
        dk = (x - per_frame(verts[:, k, 0])) * per_frame(nx[:, k]) + (y - per_frame(verts[:, k, 1])) * per_frame(ny[:, k])
        d = dk if d is None else np.maximum(d, dk)
    return d


class Canvas:
    """A clip of float32 RGB frames [T, H, W, 3] in [0, 1] that primitives are painted onto in place."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.t, self.h, self.w = frames.shape[:3]

    @classmethod
    def blank(cls, frames: int, height: int, width: int, color=(0.0, 0.0, 0.0)) -> "Canvas":
        data = np.empty((frames, height, width, 3), dtype=np.float32)
        data[:] = np.asarray(color, dtype=np.float32)
        return cls(data)

    def to_uint8(self) -> np.ndarray:
        return (np.clip(self.frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def fill(self, sdf: SDF, box: tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike], color, opacity: ArrayLike = 1.0,
             soft: float = 1.0) -> None:
        """Paint the region `sdf < 0`; `box` = (x0, y0, x1, y1) bounds it in every frame; color [3] or [T, 3]."""
        x0, y0, x1, y1 = (np.asarray(b, dtype=np.float32) for b in box)
        xa, xb = max(0, int(np.floor(x0.min())) - 1), min(self.w, int(np.ceil(x1.max())) + 2)
        ya, yb = max(0, int(np.floor(y0.min())) - 1), min(self.h, int(np.ceil(y1.max())) + 2)
        if xa >= xb or ya >= yb:
            return
        x = (np.arange(xa, xb, dtype=np.float32) + 0.5)[None, None, :]
        y = (np.arange(ya, yb, dtype=np.float32) + 0.5)[None, :, None]
        alpha = np.clip(0.5 - sdf(x, y) / soft, 0.0, 1.0) * per_frame(opacity)
        color = np.asarray(color, dtype=np.float32)
        color = color.reshape(-1, 1, 1, 3) if color.ndim == 2 else color
        region = self.frames[:, ya:yb, xa:xb]
        region += alpha[..., None] * (color - region)

    def circle(self, cx: ArrayLike, cy: ArrayLike, r: ArrayLike, color, opacity: ArrayLike = 1.0) -> None:
        sdf = lambda x, y: np.hypot(x - per_frame(cx), y - per_frame(cy)) - per_frame(r)
        self.fill(sdf, _box(cx, cy, r, r), color, opacity)

    def ellipse(self, cx: ArrayLike, cy: ArrayLike, rx: ArrayLike, ry: ArrayLike, color,
                opacity: ArrayLike = 1.0) -> None:
        """Axis-aligned ellipse (distance approximated by the scaled radial distance)."""
        def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            rx_, ry_ = per_frame(rx), per_frame(ry)
            q = np.hypot((x - per_frame(cx)) / rx_, (y - per_frame(cy)) / ry_)
            return (q - 1.0) * np.minimum(rx_, ry_)
        self.fill(sdf, _box(cx, cy, rx, ry), color, opacity)

    def ring(self, cx: ArrayLike, cy: ArrayLike, r: ArrayLike, width: float, color) -> None:
        sdf = lambda x, y: np.abs(np.hypot(x - per_frame(cx), y - per_frame(cy)) - per_frame(r)) - width / 2
        self.fill(sdf, _box(cx, cy, np.asarray(r) + width, np.asarray(r) + width), color)

    def lines(self, segments: list[tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike]], width: float, color,
              opacity: ArrayLike = 1.0) -> None:
        """The union of thick round-capped segments (ax, ay, bx, by), painted once so overlaps do not darken."""
        def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.minimum.reduce([sd_segment(x, y, *s) for s in segments]) - width / 2
        xs = np.concatenate([np.broadcast_to(np.asarray(v, np.float32), (self.t,)) for s in segments for v in s[0::2]])
        ys = np.concatenate([np.broadcast_to(np.asarray(v, np.float32), (self.t,)) for s in segments for v in s[1::2]])
        pad = width / 2 + 1
        self.fill(sdf, (xs.min() - pad, ys.min() - pad, xs.max() + pad, ys.max() + pad), color, opacity)

    def polygon(self, verts: np.ndarray, color, opacity: ArrayLike = 1.0) -> None:
        """Convex polygon; verts [K, 2] or [T, K, 2] in pixels."""
        verts = np.asarray(verts, dtype=np.float32)
        self.fill(lambda x, y: sd_convex(x, y, verts),
                  (verts[..., 0].min(), verts[..., 1].min(), verts[..., 0].max(), verts[..., 1].max()),
                  color, opacity)


def _box(cx: ArrayLike, cy: ArrayLike, rx: ArrayLike, ry: ArrayLike) -> tuple[np.ndarray, ...]:
    cx, cy, rx, ry = (np.asarray(v, dtype=np.float32) for v in (cx, cy, rx, ry))
    return cx - rx, cy - ry, cx + rx, cy + ry


def rotate(points: np.ndarray, angle: ArrayLike) -> np.ndarray:
    """Rotate points [..., K, 2] about the origin by `angle` radians (scalar or [T] -> [T, K, 2])."""
    angle = np.asarray(angle, dtype=np.float32).reshape(-1, 1)
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[..., 0], points[..., 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1] with features about `cell` pixels wide (bilinear upsampling of a coarse random grid)."""
    gh, gw = int(np.ceil(height / cell)) + 2, int(np.ceil(width / cell)) + 2
    grid = rng.random((gh, gw), dtype=np.float32)
    ys = np.arange(height, dtype=np.float32) / cell
    xs = np.arange(width, dtype=np.float32) / cell
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)  # smoothstep
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy
