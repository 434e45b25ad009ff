"""User-facing errors: one clear line, exit status 2, no traceback."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable


class T2VError(Exception):
    """An error a person caused and can fix; its message says what was wrong and what to do."""


class ConfigError(T2VError):
    """Bad config file, key, type or value."""


class CheckpointError(T2VError):
    """Missing, truncated or mismatched checkpoint / exported model."""


class DatasetError(T2VError):
    """Missing or malformed built dataset."""


def hide_repo_root() -> None:
    """Take the repository root off sys.path once t2v is imported.

    Its top-level `datasets/` folder (our builder scripts) would otherwise be found by `importlib.util.find_spec
    ("datasets")` as a namespace package, so transformers believes Hugging Face `datasets` is installed and breaks
    (e.g. its Trainer fails on `datasets.Dataset`). t2v's own submodules keep importing through `t2v.__path__`.
    """
    root = Path(__file__).resolve().parents[1]
    if not (root / "datasets").is_dir():
        return
    sys.path[:] = [p for p in sys.path if Path(os.path.abspath(p or os.curdir)) != root]
    mod = sys.modules.get("datasets")
    if mod is not None and getattr(mod, "__file__", None) is None:  # our folder, imported as a namespace package
        del sys.modules["datasets"]


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a CLI entry point; T2VError and Ctrl-C become one line on stderr and a non-zero exit."""
    hide_repo_root()
    try:
        code = main()
    except T2VError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
