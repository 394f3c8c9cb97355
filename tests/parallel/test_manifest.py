"""A finished job's folder is removed once its output reads back, and only the job's own files go."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.io import write_netcdf
from retinacodec.parallel import Chunking, Manifest
from retinacodec.parallel.runner import remove_finished_job


def _job_folder(folder):
    manifest = Manifest.open(folder, {"job": "test"}, Chunking(4, 2))
    for chunk in Chunking(4, 2):
        manifest.part_path(chunk).write_bytes(b"part")
    (folder / ".part-000000.nc.abcd1234.tmp.nc").write_bytes(b"half")
    return manifest


def test_a_finished_jobs_folder_is_removed_once_the_output_reads_back(tmp_path):
    _job_folder(tmp_path / "out.nc.parts")
    result = xr.Dataset({"value": ("sample", np.arange(4.0))})
    write_netcdf(result, tmp_path / "out.nc")
    with pytest.raises(RetinaCodecError, match="does not hold the result of the job"):
        remove_finished_job(tmp_path / "out.nc.parts", tmp_path / "out.nc", result.isel(sample=slice(2)))
    assert (tmp_path / "out.nc.parts" / "manifest.json").is_file()
    remove_finished_job(tmp_path / "out.nc.parts", tmp_path / "out.nc", result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nc"]


def test_removing_a_job_keeps_files_that_are_not_its_own(tmp_path):
    _job_folder(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    Manifest.remove(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    Manifest.remove(tmp_path / "missing")  # nothing to remove
