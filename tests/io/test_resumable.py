"""Workspace: a run folder is recognised by its program label and fingerprint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from retinacodec import RetinaCodecError
from retinacodec.io.resumable import Workspace


def _step() -> dict:
    return {"numbers": xr.DataArray(np.arange(3.0), dims="x", name="numbers")}


def test_a_folder_resumes_only_for_its_own_program(tmp_path):
    lines: list[str] = []
    first = Workspace(tmp_path / "run", {"a": 1}, log=lines.append, program="retinacodec imagenet control")
    first.run("step", _step)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["program"] == "retinacodec imagenet control"
    again = Workspace(tmp_path / "run", {"a": 1}, log=lines.append, program="retinacodec imagenet control")
    xr.testing.assert_identical(again.run("step", _step)["numbers"], _step()["numbers"])
    assert again.resumed == ["step"]
    with pytest.raises(RetinaCodecError, match="interrupted retinacodec demo run"):
        Workspace(tmp_path / "run", {"a": 1})  # the demo's label: another program's folder
    with pytest.raises(RetinaCodecError, match="holds a retinacodec imagenet control run of another"):
        Workspace(tmp_path / "run", {"a": 2}, program="retinacodec imagenet control")
