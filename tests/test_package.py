"""Packaging facts: `import t2v` stays cheap, and our datasets/ folder never shadows Hugging Face `datasets`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_t2v_does_not_load_heavy_modules():
    out = _run(
        "import sys, t2v; t2v.__version__;"
        "print(sorted(m for m in ('torch', 'transformers', 'torchvision', 'av', 'accelerate') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_lazy_public_api():
    out = _run("import t2v; print(t2v.TextToVideoPipeline.__name__, t2v.load_pipeline.__name__)")
    assert out.split() == ["TextToVideoPipeline", "load_pipeline"]


def test_datasets_folder_is_plain_scripts_and_hf_imports_work_from_root():
    """Importing transformers / accelerate from the repo root works. Measured here: with HF `datasets` not
    installed, transformers' find_spec-based check *does* see our folder from the root (a PEP 420 namespace
    package), which is why every CLI calls t2v.errors.hide_repo_root (next test); accelerate's check reads
    package metadata and is not fooled."""
    assert not (ROOT / "datasets" / "__init__.py").exists()
    out = _run(
        "import importlib.metadata as md, transformers, accelerate, transformers.trainer_utils, accelerate.data_loader\n"
        "from accelerate.utils import is_datasets_available\n"
        "try:\n    md.version('datasets'); real = True\nexcept md.PackageNotFoundError:\n    real = False\n"
        "print(is_datasets_available() == real)\n"
    )
    assert out.strip() == "True"


def test_entry_points_hide_the_datasets_folder_from_transformers(tmp_path):
    """From the repo root, a CLI run through run_cli sees the truth about HF `datasets`, and HF's Trainer works."""
    probe = ROOT / "_probe_entry.py"  # must live in the root, like train.py, so that sys.path[0] is the root
    probe.write_text(
        "import sys\nfrom pathlib import Path\nsys.path.insert(0, str(Path(__file__).resolve().parent))\n"
        "from t2v.errors import run_cli\n"
        "def main():\n"
        "    import importlib.metadata as md, torch\n"
        "    from transformers.utils import is_datasets_available\n"
        "    try:\n        md.version('datasets'); real = True\n"
        "    except md.PackageNotFoundError:\n        real = False\n"
        "    assert is_datasets_available() == real, (is_datasets_available(), real)\n"
        "    from transformers import Trainer, TrainingArguments\n"
        "    class M(torch.nn.Module):\n"
        "        def __init__(s):\n            super().__init__(); s.l = torch.nn.Linear(2, 1)\n"
        "        def forward(s, x):\n            return {'loss': s.l(x).pow(2).mean()}\n"
        f"    args = TrainingArguments(output_dir={str(tmp_path)!r}, max_steps=1, report_to=[], use_cpu=True)\n"
        "    Trainer(model=M(), args=args, train_dataset=[{'x': torch.randn(2)}] * 4).train()\n"
        "    print('ok')\n"
        "run_cli(main)\n"
    )
    try:
        r = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, cwd=ROOT)
    finally:
        probe.unlink()
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-1500:]
