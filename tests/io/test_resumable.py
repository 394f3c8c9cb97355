"""Workspace: a run folder is recognised by its program label and fingerprint; results that save
themselves are kept by their registered kind."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from retinacodec import RetinaCodecError
from retinacodec.io import resumable
from retinacodec.io.resumable import Workspace, register_result_kind


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


def test_io_knows_files_not_the_classes_it_saves():
    code = (
        "import sys, retinacodec.io.resumable\n"
        "print(sorted(m for m in sys.modules if m.startswith('retinacodec.modes')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_registered_result_saves_itself_and_reads_back_as_its_class(tmp_path):
    from retinacodec.modes.sae import SAE  # registers the kind "sae"

    data = np.abs(np.random.default_rng(0).standard_normal((64, 4))).astype(np.float32)
    calls = []

    def fit() -> dict:
        calls.append(1)
        return {"sae": SAE(epochs=2, batch_size=32, progress=False, device="cpu").fit(data), **_step()}

    first = Workspace(tmp_path, {"a": 1}, log=lambda line: None).run("fit", fit)
    outputs = json.loads((tmp_path / "manifest.json").read_text())["steps"]["fit"]["outputs"]
    assert {name: entry["kind"] for name, entry in outputs.items()} == {"sae": "sae", "numbers": "netcdf"}
    again = Workspace(tmp_path, {"a": 1}, log=lambda line: None).run("fit", fit)
    assert len(calls) == 1 and isinstance(again["sae"], SAE)
    np.testing.assert_array_equal(again["sae"].transform(data), first["sae"].transform(data))


def test_a_step_of_an_unregistered_kind_is_computed_again(tmp_path):
    Workspace(tmp_path, {"a": 1}, log=lambda line: None).run("step", _step)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["steps"]["step"]["outputs"]["numbers"]["kind"] = "no-such-kind"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    again = Workspace(tmp_path, {"a": 1}, log=lambda line: None)
    again.run("step", _step)
    assert again.resumed == []
    with pytest.raises(RetinaCodecError, match="result kind 'netcdf' is built in"):
        register_result_kind("netcdf", Workspace)


def test_a_step_must_return_results_a_workspace_can_keep(tmp_path):
    workspace = Workspace(tmp_path, {"a": 1}, log=lambda line: None)
    with pytest.raises(RetinaCodecError, match="step 'step' returned a list as 'numbers'; expected an xarray"):
        workspace.run("step", lambda: {"numbers": [1.0, 2.0]})
    assert "step" not in workspace.steps


class _Unreadable:
    """A saved result whose files never read back."""

    def save(self, path):
        path.write_text("saved")
        return path

    @classmethod
    def load(cls, path):
        raise ValueError("unreadable")


def test_files_that_do_not_read_back_after_writing_are_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(resumable.RESULT_KINDS, "unreadable", _Unreadable)
    workspace = Workspace(tmp_path, {"a": 1}, log=lambda line: None)
    with pytest.raises(RetinaCodecError, match="step: the files just written in .* do not read back"):
        workspace.run("step", lambda: {"result": _Unreadable()})
