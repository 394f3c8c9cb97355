"""The repository's own checks, run as tests so that one command runs them all: ruff (lint and
format), mypy on the package, and the documentation site built with warnings as errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    tool = BIN / command[0]
    executable = str(tool) if tool.exists() else shutil.which(command[0])
    assert executable, f"{command[0]} is not installed; expected it from the test extra"
    return subprocess.run([executable, *command[1:]], cwd=cwd, capture_output=True, text=True)


def test_ruff_lint_is_clean():
    done = _run("ruff", "check", "retinacodec", "tests", "analyses")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_clean():
    done = _run("ruff", "format", "--check", "retinacodec", "tests", "analyses")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean_on_the_package():
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_docs_build_with_warnings_as_errors(tmp_path):
    done = _run("mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
