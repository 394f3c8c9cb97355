"""The shipped model and recipes are package data: found beside the package, not the source tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import retinacodec
from retinacodec.shipped import MODELS_DIR, PROTOCOL_DIR


def test_shipped_folders_live_in_the_package():
    package = Path(retinacodec.__file__).resolve().parent
    assert MODELS_DIR.parent.resolve() == package / "shipped"
    assert (MODELS_DIR / "default" / "model.pt").is_file()
    assert sorted(PROTOCOL_DIR.glob("*.toml"))


def test_version_flag_prints_the_package_version():
    done = subprocess.run([sys.executable, "-m", "retinacodec", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.strip() == f"retinacodec {retinacodec.__version__}"
