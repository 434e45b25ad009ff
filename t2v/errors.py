"""User-facing errors: one clear line, exit status 2, no traceback."""
from __future__ import annotations

import sys
from typing import Callable


class T2VError(Exception):
    """An error a person caused and can fix; its message says what was wrong and what to do."""


class ConfigError(T2VError):
    """Bad config file, key, type or value."""


class CheckpointError(T2VError):
    """Missing, truncated or mismatched checkpoint / exported model."""


class DatasetError(T2VError):
    """Missing or malformed built dataset."""


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a CLI entry point; T2VError and Ctrl-C become one line on stderr and a non-zero exit."""
    try:
        code = main()
    except T2VError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
