"""Build a dataset with the video_captions builder; see `python datasets/video_captions.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from t2v.data.builders import video_captions  # noqa: E402
from t2v.errors import run_cli  # noqa: E402


def main() -> None:
    video_captions.main(sys.argv[1:])


if __name__ == "__main__":
    run_cli(main)
