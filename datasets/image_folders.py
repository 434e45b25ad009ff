"""Build a dataset with the image_folders builder; see `python datasets/image_folders.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from t2v.data.builders import image_folders  # noqa: E402
from t2v.errors import run_cli  # noqa: E402


def main() -> None:
    image_folders.main(sys.argv[1:])


if __name__ == "__main__":
    run_cli(main)
