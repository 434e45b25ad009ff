"""Shared plumbing of the procedural builders: argument checks, progress bar, the writer's lifecycle, summary."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ...errors import ConfigError
from ..format import DatasetWriter


def check(ok: bool, message: str) -> None:
    """Raise a one-line ConfigError about a builder argument unless `ok`."""
    if not ok:
        raise ConfigError(message)


def progress(items: Iterable[int], total: int, desc: str, enabled: bool = True) -> Iterator[int]:
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, unit="item", disable=not enabled, dynamic_ncols=True)


def write(writer: DatasetWriter, fill: Callable[[DatasetWriter], None], previews: int) -> dict[str, Any]:
    """Run `fill(writer)`, then close the writer; on any error the partial output is dropped. Adds the time taken."""
    start = time.perf_counter()
    try:
        fill(writer)
    except BaseException:
        writer.abort()
        raise
    summary = writer.close(num_previews=previews)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    return summary


def describe(summary: dict[str, Any]) -> str:
    """A few lines for a person: where the dataset is, how many items per split/domain, what was skipped."""
    out = Path(summary["out_dir"])
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    lines = [f"built {summary['num_items']} items into {out} in {summary.get('seconds', '?')} s ({splits})"]
    if summary.get("domains"):
        lines.append("domains: " + ", ".join(f"{k} {v}" for k, v in summary["domains"].items()))
    if summary.get("skipped"):
        lines.append("skipped: " + ", ".join(f"{v} x {k}" for k, v in summary["skipped"].items())
                     + f" (see {out / 'report.json'})")
    if (out / "previews").is_dir():
        lines.append(f"previews: {out / 'previews'}")
    return "\n".join(lines)
