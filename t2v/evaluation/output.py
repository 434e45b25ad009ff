"""What the evaluation commands share about their output: the result file is checked before any work and the JSON
is printed (and written) at the end."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import T2VError


def emit_json(result: dict[str, Any], out: str | None) -> None:
    """Print the result as JSON (and write it to `out` when given)."""
    text = json.dumps(result, indent=2)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    print(text)


def check_output_file(path: str | None, flag: str) -> None:
    """Refuse an output file that cannot be written before any work is done (one line, not a traceback after a
    long evaluation); creates its directory."""
    if not path:
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise T2VError(f"{flag} {path}: cannot create its directory ({e.strerror})") from None
    if target.is_dir() or not os.access(target.parent, os.W_OK):
        raise T2VError(f"{flag} {path}: not a writable file path")
