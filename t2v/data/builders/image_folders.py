"""Build image datasets from folders: unpaired domains (CycleGAN layout) or labeled class folders.

- `--unpaired ROOT`: ROOT/trainA, trainB (and optionally testA, testB) -> kind "unpaired", domain A/B,
  split train/test; items have no captions.
- `--labeled ROOT`: ROOT/<class>/**/<image> (or ROOT/<split>/<class>/...) -> kind "labeled", label "class";
  the caption is the class name (underscores read as spaces).
"""
from __future__ import annotations

import argparse
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
    class_tree_entries,
    clean_caption,
    cli_meta,
    common_args,
    existing_dir,
    label_vocabs,
    load_image,
    write_entries,
)


def unpaired_entries(root: Path) -> tuple[list[Entry], Skips]:
    folders = {d.name.lower(): d for d in sorted(root.iterdir()) if d.is_dir()}
    if "traina" not in folders or "trainb" not in folders:
        raise ConfigError(f"{root} needs trainA/ and trainB/ folders (and optionally testA/, testB/); "
                          f"found: {', '.join(d.name for d in folders.values()) or 'nothing'}")
    entries: list[Entry] = []
    skips: Skips = []
    for split in ("train", "test"):
        for domain in ("A", "B"):
            folder = folders.get(f"{split}{domain}".lower())
            for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []:
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    skips.append((str(path), "not an image file"))
                else:
                    item_id = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                    entries.append(Entry(item_id, path, [], {}, split, domain))
    return entries, skips


def build_image_folders(a: argparse.Namespace) -> dict[str, Any]:
    """Build from parsed CLI arguments (see `parser()`); returns the summary."""
    check_args(a)
    if a.unpaired:
        entries, skips = unpaired_entries(existing_dir(a.unpaired, "--unpaired"))
        kind, labels = "unpaired", {}
    else:
        entries, skips, classes = class_tree_entries(
            existing_dir(a.labeled, "--labeled"), IMAGE_SUFFIXES, "not an image file", "class",
            lambda cls: [clean_caption(cls.replace("_", " "))],
        )
        if not classes:
            raise ConfigError(f"no class folders with images under {a.labeled}; expected ROOT/<class>/<image>")
        kind, labels = "labeled", {"class": classes}
    writer = DatasetWriter(a.out, kind, (a.size, a.size, 3), labels=labels or label_vocabs(entries),
                           meta=cli_meta("image_folders", a, source=kind), overwrite=a.overwrite)
    return write_entries(writer, entries, skips, partial(load_image, size=a.size), a, "decoding images")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="datasets/image_folders.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--unpaired", help="root with trainA/ trainB/ [testA/ testB/]")
    src.add_argument("--labeled", help="root with one folder of images per class")
    common_args(p)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return build_image_folders(parser().parse_args(argv))
