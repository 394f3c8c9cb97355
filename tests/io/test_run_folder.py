"""Run folders: a second process's run stops at once while the folder is locked, a stale lock file is
taken over, and a killed writer's temporary files are removed when a Workspace opens or closes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from retinacodec import RetinaCodecError
from retinacodec.io.atomic import is_temporary
from retinacodec.io.resumable import Workspace
from retinacodec.io.run_folder import LOCK_FILE, lock_folder, remove_temporary_files, unlock_folder

ROOT = Path(__file__).resolve().parents[2]


def _step() -> dict:
    return {"numbers": xr.DataArray(np.arange(3.0), dims="x", name="numbers")}


def test_temporary_names_follow_the_atomic_writer():
    assert is_temporary(Path(".numbers.nc.ab12_xyz.tmp.nc"))
    assert is_temporary(Path(".manifest.json.k2j3h4g5.tmp.json"))
    assert is_temporary(Path(".notes.abcd1234.tmp"))
    assert not is_temporary(Path("numbers.nc"))
    assert not is_temporary(Path(".numbers.nc.ab12.tmp.json"))  # the suffix must be the name's
    assert not is_temporary(Path(".lock"))


def test_a_folder_written_by_another_process_is_refused_at_once(tmp_path):
    code = (
        "import sys, time\n"
        "from retinacodec.io.run_folder import lock_folder\n"
        f"lock_folder({str(tmp_path)!r}, 'x')\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            RetinaCodecError, match=rf"is being written by another run \(pid {holder.pid}\); expected"
        ) as info:
            Workspace(tmp_path, {"a": 1}, log=lambda line: None)
        assert "\n" not in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with Workspace(tmp_path, {"a": 1}, log=lambda line: None) as workspace:  # the lock died with its process
        workspace.run("step", _step)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "numbers.nc"]


def test_a_killed_runs_leftovers_are_removed_and_the_rerun_leaves_only_results(tmp_path):
    Workspace(tmp_path, {"a": 1}, log=lambda line: None).run("step", _step)
    (tmp_path / LOCK_FILE).write_text("999999999\n")  # a stale lock: no process holds it
    (tmp_path / ".numbers.nc.q1w2e3r4.tmp.nc").write_bytes(b"half")
    (tmp_path / ".manifest.json.a1s2d3f4.tmp.json").write_text("{")
    workspace = Workspace(tmp_path, {"a": 1}, log=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE, "manifest.json", "numbers.nc"]
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert workspace.run("step", _step)["numbers"].values.tolist() == [0.0, 1.0, 2.0]
    (tmp_path / ".other.nc.z9x8c7v6.tmp.nc").write_bytes(b"")
    workspace.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "numbers.nc"]


def test_a_refused_folder_keeps_its_files_and_no_lock(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    (tmp_path / ".mine.txt.abcd1234.tmp.txt").write_text("keep too")
    with pytest.raises(RetinaCodecError, match="holds other files"):
        Workspace(tmp_path, {"a": 1}, log=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.txt.abcd1234.tmp.txt", "mine.txt"]


def test_locks_in_one_process_are_counted(tmp_path):
    lock_folder(tmp_path, "x")
    lock_folder(tmp_path, "x")
    unlock_folder(tmp_path)
    assert (tmp_path / LOCK_FILE).is_file()
    unlock_folder(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()
    assert remove_temporary_files(tmp_path / "missing") == []
