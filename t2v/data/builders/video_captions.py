"""Build a captioned video dataset (kind "video") from real videos.

Inputs (one of):
- `--captions FILE --root DIR`: CSV (header with path,caption) or JSONL/JSON ({"path", "caption" | "captions"});
  optional fields split, id and the columns named by --label-columns. Rows with the same path are one clip.
- `--kinetics ROOT`: ROOT/<class name>/<clip>.mp4 (or ROOT/<split>/<class name>/...); captions are made from the
  class name by templates, the class is label "action".
- `--msrvtt JSON --root DIR`: {"videos": [{"video_id", "split"?, "category"?}], "sentences": [{"video_id",
  "caption"}]}; files are DIR/<video_id>.<video suffix>.
Each clip: `--frames` frames `--stride` apart from a window at the center (or begin / a seeded random place),
short side resized to `--size` and center-cropped; short videos are padded by repeating their last frame.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError
from ..format import DatasetWriter
from ..video import VIDEO_SUFFIXES, VideoReadError, import_av, read_video
from .common import (
    Entry,
    Loaded,
    Skips,
    check_args,
    class_tree_entries,
    clean_caption,
    cli_meta,
    common_args,
    entries_from_table,
    existing_dir,
    existing_file,
    file_problem,
    label_vocabs,
    normalize_split,
    write_entries,
)

TEMPLATES = ("a person {class}", "{class}", "someone is {class}", "a video of a person {class}")
PADDING_NOTE = "clips with fewer than (frames-1)*stride+1 frames are padded by repeating their last frame"


def frame_count(path: Path) -> int:
    """Frames in the first video stream from container metadata (0 when unknown or unreadable)."""
    av = import_av()

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            if stream.duration and stream.time_base and stream.average_rate:
                return int(stream.duration * stream.time_base * stream.average_rate)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        pass
    return 0


def window_start(path: Path, item_id: str, span: int, where: str, seed: int) -> int:
    """First frame of a window of `span` frames: at the begin, the center, or a seeded random place."""
    if where == "begin":
        return 0
    slack = frame_count(path) - span
    if slack <= 0:
        return 0
    if where == "center":
        return slack // 2
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (slack + 1)


def load_clip(job: tuple[str, str], frames: int, stride: int, size: int, where: str, seed: int) -> Loaded:
    """Decode one clip (path, id) to uint8 [frames, size, size, 3] plus how many frames were padded."""
    path, item_id = Path(job[0]), job[1]
    problem = file_problem(path)
    if problem:
        return problem
    start = window_start(path, item_id, (frames - 1) * stride + 1, where, seed)
    try:
        clip = read_video(path, num_frames=frames, stride=stride, start=start, size=size)
    except VideoReadError:
        if start == 0:
            return "unreadable video"
        try:  # the metadata over-stated the length: take the window from the begin
            clip = read_video(path, num_frames=frames, stride=stride, size=size)
        except VideoReadError:
            return "unreadable video"
    padded = frames - len(clip)
    if padded:
        clip = np.concatenate([clip, np.repeat(clip[-1:], padded, axis=0)])
    return clip, padded


def kinetics_entries(root: Path, templates: list[str]) -> tuple[list[Entry], Skips]:
    def captions(cls: str) -> list[str]:
        name = clean_caption(cls.replace("_", " "))
        return list(dict.fromkeys(t.replace("{class}", name) for t in templates))

    entries, skips, classes = class_tree_entries(root, VIDEO_SUFFIXES, "not a video file", "action", captions)
    if not classes:
        raise ConfigError(f"no class folders with videos under {root}; expected ROOT/<class name>/<clip>.mp4")
    return entries, skips


def msrvtt_entries(json_path: Path, root: Path) -> tuple[list[Entry], Skips]:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        videos, sentences = data["videos"], data["sentences"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{json_path} is not an MSR-VTT annotation file (need 'videos' and 'sentences'): "
                          f"{e!r}") from e
    files = {p.stem: p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES}
    skips: Skips = []
    captions: dict[str, list[str]] = {}
    for i, s in enumerate(sentences):
        text = clean_caption(s.get("caption"))
        if not text:
            skips.append((f"sentences[{i}]", "empty caption"))
        else:
            captions.setdefault(str(s.get("video_id")), []).append(text)
    entries = []
    for v in videos:
        vid = str(v.get("video_id"))
        if vid not in captions:
            skips.append((vid, "no caption"))
            continue
        labels = {"category": str(v["category"])} if v.get("category") is not None else {}
        path = files.get(vid, root / f"{vid}.mp4")
        entries.append(Entry(vid, path, list(dict.fromkeys(captions[vid])), labels, normalize_split(v.get("split"))))
    return entries, skips


def build_video_captions(a: argparse.Namespace) -> dict[str, Any]:
    """Build from parsed CLI arguments (see `parser()`); returns the summary."""
    check_args(a)
    if a.frames < 1 or a.stride < 1:
        raise ConfigError(f"--frames and --stride must be >= 1, got {a.frames} and {a.stride}")
    if a.kinetics:
        templates = a.template or list(TEMPLATES)
        if any("{class}" not in t for t in templates):
            raise ConfigError("every --template must contain {class}, e.g. --template 'a person {class}'")
        entries, skips = kinetics_entries(existing_dir(a.kinetics, "--kinetics"), templates)
        source = "kinetics"
    elif a.msrvtt:
        entries, skips = msrvtt_entries(existing_file(a.msrvtt, "--msrvtt"), existing_dir(a.root, "--root"))
        source = "msrvtt"
    else:
        labels = [c for c in (a.label_columns or "").split(",") if c]
        entries, skips = entries_from_table(existing_file(a.captions, "--captions"), existing_dir(a.root, "--root"),
                                            labels)
        source = "captions"
    meta = cli_meta("video_captions", a, source=source, stride=a.stride, padding=PADDING_NOTE)
    writer = DatasetWriter(a.out, "video", (a.frames, a.size, a.size, 3), fps=a.fps, labels=label_vocabs(entries),
                           meta=meta, overwrite=a.overwrite)
    load = partial(load_clip, frames=a.frames, stride=a.stride, size=a.size, where=a.clip_start, seed=a.seed)
    return write_entries(writer, entries, skips, load, a, "decoding videos")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/video_captions.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--captions", help="CSV / JSONL / JSON of path,caption (paths relative to --root)")
    src.add_argument("--kinetics", help="root of a <class name>/<clip> tree")
    src.add_argument("--msrvtt", help="MSR-VTT annotation JSON (videos + sentences)")
    p.add_argument("--root", help="folder the --captions paths / --msrvtt videos are in")
    p.add_argument("--label-columns", help="comma-separated --captions fields stored as labels")
    p.add_argument("--template", action="append",
                   help=f"--kinetics caption template with {{class}}; repeat for several (default: {TEMPLATES})")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    p.add_argument("--stride", type=int, default=2, help="take every stride-th frame (default: 2)")
    p.add_argument("--clip-start", choices=["center", "begin", "random"], default="center",
                   help="where the window of frames is taken (random: seeded per clip; default: center)")
    p.add_argument("--fps", type=int, default=8, help="frame rate stored in meta and previews (default: 8)")
    common_args(p)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parser().parse_args(argv)
    if (a.captions or a.msrvtt) and not a.root:
        raise ConfigError("--captions and --msrvtt need --root DIR (the folder the videos are in)")
    return build_video_captions(a)
