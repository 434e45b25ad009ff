"""Video / image I/O: round trips, odd sizes, sampling, errors, and an independent check of our mp4s."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from einops import rearrange

from t2v.data.video import (
    ImageReadError,
    VideoReadError,
    read_image,
    read_video,
    save_frame_strip,
    save_image_grid,
    save_video,
    write_gif,
    write_png,
    write_video,
)
from t2v.errors import T2VError


def smooth_clip(t: int = 8, h: int = 16, w: int = 16) -> np.ndarray:
    """A moving colour gradient: smooth content that H.264 compresses well."""
    yy, xx = np.mgrid[:h, :w]
    frames = [np.stack([xx / w * 0.6 + k / t * 0.3, yy / h, np.full_like(xx, 0.5, float)], -1) for k in range(t)]
    return (np.stack(frames) * 255).round().astype(np.uint8)


def numbered_clip(t: int = 12, h: int = 16, w: int = 16) -> np.ndarray:
    """Frame k is a flat grey of value 20*k: the frame index can be read back from the pixels."""
    return np.stack([np.full((h, w, 3), 20 * k, np.uint8) for k in range(t)])


def decode_png(path: Path) -> np.ndarray:
    """Minimal PNG reader for 8-bit RGB, filter 0 (what our writer emits), independent of our code."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, shape = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(tag + body)
        if tag == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert (depth, ctype) == (8, 2)
            shape = (h, w)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    h, w = shape
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def test_mp4_round_trip_is_close(tmp_path: Path) -> None:
    clip = smooth_clip()
    path = write_video(tmp_path / "a.mp4", clip, fps=8)
    back = read_video(path)
    assert back.dtype == np.uint8 and back.shape == clip.shape
    assert np.abs(back.astype(int) - clip).mean() < 6


def test_mp4_is_h264_yuv420p_by_independent_inspection(tmp_path: Path) -> None:
    """Inspect the container with PyAV directly (no ffprobe / torchvision.io video reader in this env)."""
    import av

    clip = smooth_clip(t=9, h=16, w=24)
    path = write_video(tmp_path / "a.mp4", clip, fps=12)
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov,mp4")
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (24, 16)
        assert stream.average_rate == 12
        packets = sum(1 for p in container.demux(stream) if p.size)
    assert packets == 9


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    clip = smooth_clip(t=5, h=15, w=17)
    back = read_video(write_video(tmp_path / "odd.mp4", clip))
    assert back.shape == (5, 16, 18, 3)
    assert np.abs(back[:, :15, :17].astype(int) - clip).mean() < 6


def test_mp4_output_is_deterministic(tmp_path: Path) -> None:
    clip = smooth_clip()
    a = write_video(tmp_path / "a.mp4", clip).read_bytes()
    b = write_video(tmp_path / "b.mp4", clip).read_bytes()
    assert a == b


def test_frame_selection_and_resize(tmp_path: Path) -> None:
    path = write_video(tmp_path / "n.mp4", numbered_clip(t=12))
    picked = read_video(path, num_frames=3, stride=2, start=1)
    assert picked.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(picked.reshape(3, -1).mean(1), [20, 60, 100], atol=3)
    short = read_video(path, num_frames=10, stride=3)  # only 4 frames exist at stride 3
    assert len(short) == 4
    assert read_video(path, num_frames=2, size=8).shape == (2, 8, 8, 3)
    assert read_video(path, num_frames=2, size=(4, 12)).shape == (2, 4, 12, 3)


def test_resize_covers_then_center_crops(tmp_path: Path) -> None:
    clip = np.zeros((2, 16, 32, 3), np.uint8)
    clip[:, :, 8:24] = 255  # white center band, black sides
    path = write_video(tmp_path / "wide.mp4", clip)
    out = read_video(path, size=8)  # 16x32 -> 8x16 -> crop 8x8 from the center: all white
    assert out.shape == (2, 8, 8, 3) and out.min() > 200


def test_gif_round_trip(tmp_path: Path) -> None:
    few_colours = numbered_clip(t=6, h=9, w=11)
    back = read_video(write_gif(tmp_path / "a.gif", few_colours, fps=4))
    np.testing.assert_array_equal(back, few_colours)  # <= 256 colours: exact palette
    clip = smooth_clip(t=6, h=20, w=20)
    back = read_video(write_gif(tmp_path / "b.gif", clip))
    assert back.shape == clip.shape and np.abs(back.astype(int) - clip).mean() < 4


def test_png_strip_and_grid_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (5, 7, 9, 3), dtype=np.uint8)
    strip = save_frame_strip(tmp_path / "s.png", clip, every=2)
    expected = rearrange(clip[::2], "t h w c -> h (t w) c")
    np.testing.assert_array_equal(decode_png(strip), expected)
    np.testing.assert_array_equal(read_image(strip), expected)
    grid = decode_png(save_image_grid(tmp_path / "g.png", clip, nrow=2))
    assert grid.shape == (3 * 7, 2 * 9, 3)
    np.testing.assert_array_equal(grid[7:14, 9:18], clip[3])
    assert (grid[14:, 9:] == 0).all()  # padding cell
    gray = rng.integers(0, 256, (4, 6, 1), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_png(tmp_path / "g1.png", gray)), np.repeat(gray, 3, -1))


def test_save_video_dispatches_on_suffix(tmp_path: Path) -> None:
    clip = numbered_clip(t=4, h=8, w=8)
    for name in ("c.mp4", "c.gif", "c.png"):
        assert save_video(tmp_path / name, clip).stat().st_size > 0
    assert decode_png(tmp_path / "c.png").shape == (8, 32, 3)
    with pytest.raises(T2VError, match=r"\.mp4, \.gif or \.png"):
        save_video(tmp_path / "c.avi", clip)


def test_read_image_resize(tmp_path: Path) -> None:
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, 5:15] = 200
    out = read_image(write_png(tmp_path / "i.png", img), size=6)
    assert out.shape == (6, 6, 3) and out.min() > 150


@pytest.mark.parametrize("content", [b"", b"this is not a video\n" * 10, "truncated"])
def test_unreadable_videos_raise_one_error_type(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "bad.mp4"
    if content == "truncated":
        good = write_video(tmp_path / "good.mp4", smooth_clip()).read_bytes()
        content = good[: len(good) // 3]
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match="cannot read video"):
        read_video(path)
    assert issubclass(VideoReadError, T2VError)


def test_missing_and_unreadable_images(tmp_path: Path) -> None:
    with pytest.raises(VideoReadError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    good = write_png(tmp_path / "ok.png", np.zeros((32, 32, 3), np.uint8)).read_bytes()
    (tmp_path / "trunc.png").write_bytes(good[:60])
    (tmp_path / "text.jpg").write_text("hello")
    for name in ("empty.png", "trunc.png", "text.jpg"):
        with pytest.raises(ImageReadError, match="cannot read image"):
            read_image(tmp_path / name)


def test_bad_frames_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_video(tmp_path / "f.mp4", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        write_video(tmp_path / "f.mp4", np.zeros((8, 8, 3), np.uint8))
