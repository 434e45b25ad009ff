"""Build the procedural 'moving_shapes' dataset; see `python datasets/moving_shapes.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from t2v.data.procedural import run_builder  # noqa: E402
from t2v.errors import run_cli  # noqa: E402


def main() -> None:
    run_builder("moving_shapes", sys.argv[1:])


if __name__ == "__main__":
    run_cli(main)
