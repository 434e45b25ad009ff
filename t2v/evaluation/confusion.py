"""Confusion tables from an `evaluate` result: for one captioned label, how the judge read the generated clips of
each captioned class, optionally split by another label (e.g. the shape, for small and for large objects).

    python -m t2v.evaluation confusion RESULT.json --label shape [--by size]

Pure Python over the result JSON: no torch, no model, no dataset.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from ..errors import T2VError


def confusion(result: dict, label: str, by: str | None = None) -> dict[str, dict[str, Counter]]:
    """{group: {captioned class: Counter(judged class -> clips)}}; one group, "all", without `by`."""
    rows = result.get("per_caption")
    if not isinstance(rows, list) or not rows:
        raise T2VError("the result has no per_caption rows; pass a JSON written by `python -m t2v.evaluation evaluate`")
    known = sorted(result.get("captioned_labels") or rows[0].get("labels", {}))
    for name in (label, by):
        if name is not None and name not in known:
            raise T2VError(f"unknown label {name!r}; this result has {', '.join(known)}")
    table: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        group = "all" if by is None else str(row["labels"][by])
        table[group][str(row["labels"][label])].update(row["predicted"][label])
    return {g: dict(t) for g, t in table.items()}


def format_confusion(table: dict[str, dict[str, Counter]], label: str, by: str | None = None) -> str:
    """Markdown: one table per group, rows = captioned class, columns = judged class (% of the row's clips), then
    the row's accuracy and clip count."""
    out = []
    for group in sorted(table):
        rows = table[group]
        classes = sorted(set(rows) | {c for counts in rows.values() for c in counts})
        head = f"{label} (captioned) \\ judged" if by is None else f"{by} = {group}: {label} (captioned) \\ judged"
        out.append(f"| {head} | " + " | ".join(classes) + " | right | clips |")
        out.append("|---|" + "---:|" * (len(classes) + 2))
        for true in sorted(rows):
            n = sum(rows[true].values())
            cells = [f"{100 * rows[true][c] / n:.0f}%" if n else "-" for c in classes]
            right = f"{100 * rows[true][true] / n:.1f}%" if n else "-"
            out.append(f"| {true} | " + " | ".join(cells) + f" | {right} | {n} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
