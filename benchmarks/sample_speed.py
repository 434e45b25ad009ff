"""sample.py cold wall time and peak RSS vs the time of `python -c "import torch, transformers"`.

Target (T2V issue): sample.py <= import baseline + 2 s, peak RSS <= 1.5 GB.
    python benchmarks/sample_speed.py [--repeats 3] [--checkpoint scenes]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: str) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MB (ru_maxrss of the largest child so far is per-call here)."""
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{r.stderr[-800:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--checkpoint", default=None)
    a = p.parse_args()
    base_cmd = [sys.executable, "-c", "import torch, transformers"]
    sample_cmd = [sys.executable, str(ROOT / "sample.py"), "--text", "play golf on snow", "--out", "out"]
    if a.checkpoint:
        sample_cmd += ["--checkpoint", a.checkpoint]
    with tempfile.TemporaryDirectory() as tmp:
        base = [timed(base_cmd, tmp)[0] for _ in range(a.repeats)]
        runs = [timed(sample_cmd, tmp) for _ in range(a.repeats)]
    b, s = statistics.median(base), statistics.median(w for w, _ in runs)
    rss = max(r for _, r in runs)
    print("| measure | value | target |\n|---|---|---|")
    print(f"| `import torch, transformers` (median of {a.repeats}) | {b:.2f} s | |")
    print(f"| `sample.py --text \"play golf on snow\"` cold (median of {a.repeats}) | {s:.2f} s | <= {b + 2:.2f} s |")
    print(f"| peak RSS of any child process | {rss:.0f} MB | <= 1536 MB |")
    print(f"\n{'PASS' if s <= b + 2 and rss <= 1536 else 'MISS'}")


if __name__ == "__main__":
    main()
