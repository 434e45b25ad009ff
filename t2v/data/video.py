"""Video and image I/O: H.264 mp4 / GIF via PyAV, PNG strips and grids via a minimal zlib PNG writer.

All frames are `np.uint8` arrays shaped [T, H, W, 3] (RGB); single images are [H, W, 3].
PyAV and Pillow are imported inside functions so that `import t2v` stays cheap.
"""
from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
from einops import rearrange

from ..errors import T2VError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")

Size = int | tuple[int, int] | None


class VideoReadError(T2VError):
    """A video file is missing, empty, truncated or not a video."""


class ImageReadError(T2VError):
    """An image file is missing, empty, truncated or not an image."""


def _check_frames(frames: np.ndarray, ndim: int = 4) -> np.ndarray:
    """Validate uint8 RGB frames ([T,H,W,3] or [H,W,3]); grayscale [..., 1] is expanded to 3 channels."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"frames must be uint8 (0..255), got {frames.dtype}")
    if frames.ndim != ndim or frames.shape[-1] not in (1, 3):
        want = "[T,H,W,3]" if ndim == 4 else "[H,W,3]"
        raise ValueError(f"frames must be shaped {want}, got {list(frames.shape)}")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return np.ascontiguousarray(frames)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad H and W to even sizes by repeating the last row / column (yuv420p needs even sizes)."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def import_av():
    """PyAV, or a one-line T2VError saying how to get it (it is a dependency, but a bare environment may lack it)."""
    try:
        import av
    except ImportError:
        raise T2VError("reading or writing video files needs PyAV: pip install av (or write PNG frames instead)") from None
    return av


def write_video(path: str | Path, frames: np.ndarray, fps: int = 8, crf: int = 18) -> Path:
    """Write an H.264 (yuv420p) mp4; odd frame sizes are padded to even by edge repetition."""
    av = import_av()

    frames = _pad_even(_check_frames(frames))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        stream.codec_context.thread_count = 1  # byte-identical output for identical input
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _median_cut_palette(colors: np.ndarray, counts: np.ndarray, size: int = 256) -> np.ndarray:
    """Split the weighted colour set along its widest channel until `size` boxes; return their mean colours."""
    def box(c: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return c, n, c.max(0) - c.min(0)

    boxes = [box(colors, counts)]
    while len(boxes) < size:
        k = max(range(len(boxes)), key=lambda j: boxes[j][2].max())
        c, n, span = boxes[k]
        if span.max() <= 0:
            break
        boxes.pop(k)
        order = np.argsort(c[:, int(np.argmax(span))], kind="stable")
        c, n = c[order], n[order]
        cut = min(max(int(np.searchsorted(np.cumsum(n), n.sum() / 2)) + 1, 1), len(c) - 1)
        boxes += [box(c[:cut], n[:cut]), box(c[cut:], n[cut:])]
    return np.stack([np.round((c * n[:, None]).sum(0) / n.sum()) for c, n, _ in boxes]).astype(np.uint8)


def _quantize(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One palette (<= 256 colours, exact when the clip has few colours) and per-pixel indices for a clip."""
    flat = rearrange(frames, "t h w c -> (t h w) c")
    colors, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    if len(colors) <= 256:
        palette, lookup = colors, np.arange(len(colors))
    else:
        palette = _median_cut_palette(colors.astype(np.float64), counts.astype(np.float64))
        lookup = np.concatenate([
            np.argmin(((chunk[:, None, :].astype(np.int32) - palette[None].astype(np.int32)) ** 2).sum(-1), 1)
            for chunk in np.array_split(colors, max(1, len(colors) // 4096))
        ])
    index = lookup[inverse.reshape(-1)].astype(np.uint8).reshape(frames.shape[:3])
    return palette, index


def write_gif(path: str | Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Write a looping GIF with one median-cut palette shared by all frames."""
    av = import_av()

    frames = _check_frames(frames)
    palette, index = _quantize(frames)
    argb = np.zeros((256, 4), np.uint8)
    argb[: len(palette), 0] = 255
    argb[: len(palette), 1:] = palette
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="gif") as container:
        stream = container.add_stream("gif", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "pal8"
        for idx in index:
            frame = av.VideoFrame.from_ndarray((np.ascontiguousarray(idx), argb), format="pal8")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an 8-bit RGB PNG (no filtering, zlib level 6); deterministic bytes for identical input."""
    image = _check_frames(image, ndim=3)
    h, w, _ = image.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
                     + chunk(b"IEND", b""))
    return path


def save_frame_strip(path: str | Path, frames: np.ndarray, every: int = 1) -> Path:
    """Save every `every`-th frame side by side as one PNG."""
    frames = _check_frames(frames)[::every]
    return write_png(path, rearrange(frames, "t h w c -> h (t w) c"))


def save_image_grid(path: str | Path, images: np.ndarray, nrow: int = 8) -> Path:
    """Save images [N,H,W,3] as a PNG grid with `nrow` images per row (the last row is padded with black)."""
    images = _check_frames(images)
    n = len(images)
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    padded = np.zeros((rows * cols, *images.shape[1:]), np.uint8)
    padded[:n] = images
    return write_png(path, rearrange(padded, "(r k) h w c -> (r h) (k w) c", k=cols))


def save_video(path: str | Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Save frames by suffix: .mp4 (H.264), .gif, or .png (frame strip)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".mp4":
        return write_video(path, frames, fps)
    if suffix == ".gif":
        return write_gif(path, frames, fps)
    if suffix == ".png":
        return save_frame_strip(path, frames)
    raise T2VError(f"cannot save video as {str(path)!r}: use a .mp4, .gif or .png file name")


def _target_hw(size: Size) -> tuple[int, int] | None:
    if size is None:
        return None
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _cover_size(h: int, w: int, th: int, tw: int) -> tuple[int, int]:
    """Smallest (h', w') with the aspect of (h, w) that covers (th, tw)."""
    scale = max(th / h, tw / w)
    return max(th, round(h * scale)), max(tw, round(w * scale))


def _center_crop(img: np.ndarray, th: int, tw: int) -> np.ndarray:
    h, w = img.shape[-3:-1]
    top, left = (h - th) // 2, (w - tw) // 2
    return img[..., top : top + th, left : left + tw, :]


def read_video(
    path: str | Path, num_frames: int | None = None, stride: int = 1, start: int = 0, size: Size = None
) -> np.ndarray:
    """Decode frames start, start+stride, ... (at most `num_frames`) as uint8 [T,H,W,3].

    `size` (int or (H, W)): resize so the frame covers the target (area filter), then center-crop.
    Returns fewer than `num_frames` frames when the video is short; raises VideoReadError when the file
    cannot be decoded or holds no frame at `start`.
    """
    av = import_av()

    if stride < 1 or start < 0 or (num_frames is not None and num_frames < 1):
        raise ValueError(f"need stride >= 1, start >= 0, num_frames >= 1; got {stride}, {start}, {num_frames}")
    if not Path(path).is_file():
        raise VideoReadError(f"video file not found: {path}")
    target = _target_hw(size)
    out: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream; give a video file (mp4, webm, avi, gif, ...)")
            stream = container.streams.video[0]
            # one decoding thread: frame-threaded decoding may stop at a different frame of a damaged file from
            # run to run, and the builders promise identical output for identical input (they parallelise over files)
            stream.codec_context.thread_count = 1
            for i, frame in enumerate(container.decode(stream)):
                if i < start or (i - start) % stride:
                    continue
                if target is None:
                    out.append(frame.to_ndarray(format="rgb24"))
                else:
                    h, w = _cover_size(frame.height, frame.width, *target)
                    img = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
                    out.append(_center_crop(img, *target))
                if num_frames is not None and len(out) == num_frames:
                    break
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise VideoReadError(f"cannot read video {path}: {reason}; check that the file is a complete video") from e
    if not out:
        raise VideoReadError(f"cannot read video {path}: no decodable frame at index {start}; the file is empty, "
                             "truncated or shorter than the requested start")
    return np.stack(out)


def read_image(path: str | Path, size: Size = None) -> np.ndarray:
    """Load an image as uint8 RGB [H,W,3] (EXIF orientation applied); `size` resizes to cover, then center-crops."""
    from PIL import Image, ImageOps

    if not Path(path).is_file():
        raise ImageReadError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            target = _target_hw(size)
            if target is not None:
                h, w = _cover_size(im.height, im.width, *target)
                im = im.resize((w, h), Image.Resampling.BICUBIC, reducing_gap=2.0)
            img = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"cannot read image {path}: {e}; check that the file is a complete image") from e
    return np.ascontiguousarray(img if target is None else _center_crop(img, *target))
