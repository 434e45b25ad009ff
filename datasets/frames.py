"""Build stills from a video dataset with the frames builder; see `python datasets/frames.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from t2v.data.builders import frames  # noqa: E402
from t2v.errors import run_cli  # noqa: E402


def main() -> None:
    frames.main(sys.argv[1:])


if __name__ == "__main__":
    run_cli(main)
