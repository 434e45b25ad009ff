"""Build a captioned image dataset (kind "image") from real images.

Inputs (one of):
- `--captions FILE --root DIR`: CSV (header with path,caption) or JSONL/JSON ({"path", "caption" | "captions"});
  optional fields split, id and the columns named by --label-columns. Rows with the same path are one image.
- `--coco JSON --root DIR`: COCO captions ({"images": [{"id", "file_name"}], "annotations": [{"image_id",
  "caption"}]}); `--split` names the split of all its images (e.g. val for captions_val2014.json).
- `--text-files ROOT`: one text file per image, one caption per line (CUB-200 / Oxford-102 layout):
  ROOT/images/**/<name>.jpg and ROOT/text/**/<name>.txt, matched by file name; the class is the image's
  sub-folder (or the text file's) when there is one, stored as label "class".
"""
from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ..format import DatasetWriter
from ..video import IMAGE_SUFFIXES
from .common import (
    Entry,
    Skips,
    check_args,
    clean_caption,
    cli_meta,
    common_args,
    entries_from_table,
    existing_dir,
    existing_file,
    label_vocabs,
    load_image,
    write_entries,
)


def coco_entries(json_path: Path, root: Path, split: str | None) -> tuple[list[Entry], Skips]:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        images = {im["id"]: im["file_name"] for im in data["images"]}
        annotations = data["annotations"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{json_path} is not a COCO captions file (need 'images' with id/file_name and "
                          f"'annotations'): {e!r}") from e
    skips: Skips = []
    captions: dict[Any, list[str]] = {}
    for i, ann in enumerate(annotations):
        text = clean_caption(ann.get("caption"))
        if not text:
            skips.append((f"annotations[{i}]", "empty caption"))
        elif ann.get("image_id") not in images:
            skips.append((f"annotations[{i}]", "caption of an unknown image_id"))
        else:
            captions.setdefault(ann["image_id"], []).append(text)
    entries = []
    for image_id, name in images.items():
        if image_id in captions:
            entries.append(Entry(str(name), root / name, list(dict.fromkeys(captions[image_id])), {}, split))
        else:
            skips.append((str(name), "no caption"))
    return entries, skips


def text_file_entries(root: Path, images_subdir: str, text_subdir: str) -> tuple[list[Entry], Skips]:
    images_dir = existing_dir(root / images_subdir, "images folder")
    text_dir = existing_dir(root / text_subdir, "text folder")
    skips: Skips = []
    texts: dict[str, Path] = {}
    for t in sorted(text_dir.rglob("*.txt")):
        if t.stem in texts:
            skips.append((str(t), "duplicate text file name"))
        else:
            texts[t.stem] = t
    entries = []
    for path in sorted(p for p in images_dir.rglob("*") if p.is_file()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skips.append((str(path), "not an image file"))
            continue
        text = texts.get(path.stem)
        if text is None:
            skips.append((str(path), "no caption file"))
            continue
        lines = text.read_text(encoding="utf-8", errors="replace").splitlines()
        captions = list(dict.fromkeys(c for c in map(clean_caption, lines) if c))
        if not captions:
            skips.append((str(text), "empty caption"))
            continue
        folder = path.parent if path.parent != images_dir else text.parent if text.parent != text_dir else None
        labels = {"class": folder.name} if folder is not None else {}
        entries.append(Entry(path.relative_to(images_dir).as_posix(), path, captions, labels))
    return entries, skips


def build_image_captions(a: argparse.Namespace) -> dict[str, Any]:
    """Build from parsed CLI arguments (see `parser()`); returns the summary."""
    check_args(a)
    if a.coco:
        entries, skips = coco_entries(existing_file(a.coco, "--coco"), existing_dir(a.root, "--root"), a.split)
        source = "coco"
    elif a.text_files:
        entries, skips = text_file_entries(existing_dir(a.text_files, "--text-files"), a.images_subdir,
                                           a.text_subdir)
        source = "text_files"
    else:
        labels = [c for c in (a.label_columns or "").split(",") if c]
        entries, skips = entries_from_table(existing_file(a.captions, "--captions"), existing_dir(a.root, "--root"),
                                            labels)
        source = "captions"
    if a.split:
        for e in entries:
            e.split = a.split
    writer = DatasetWriter(a.out, "image", (a.size, a.size, 3), labels=label_vocabs(entries),
                           meta=cli_meta("image_captions", a, source=source), overwrite=a.overwrite)
    return write_entries(writer, entries, skips, partial(load_image, size=a.size), a, "decoding images")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/image_captions.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--captions", help="CSV / JSONL / JSON of path,caption (paths relative to --root)")
    src.add_argument("--coco", help="COCO captions JSON (images + annotations)")
    src.add_argument("--text-files", help="root with images/ and text/ (one .txt of captions per image)")
    p.add_argument("--root", help="folder the --captions / --coco image paths are relative to")
    p.add_argument("--label-columns", help="comma-separated --captions fields stored as labels")
    p.add_argument("--images-subdir", default="images", help="--text-files: images folder (default: images)")
    p.add_argument("--text-subdir", default="text", help="--text-files: captions folder (default: text)")
    p.add_argument("--split", help="put every item in this split (default: from the input, else by --val-fraction)")
    common_args(p)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parser().parse_args(argv)
    if (a.captions or a.coco) and not a.root:
        raise ConfigError("--captions and --coco need --root DIR (the folder the images are in)")
    return build_image_captions(a)
