"""One demo run with fast settings on the tiny model, shared by the retina pipeline's test modules,
and its step results read back."""

import json

import pytest

from retinacodec.io import read_netcdf
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.run import run_demo


@pytest.fixture(scope="session")
def _demo_runs() -> dict:
    """Finished demo folders of this session, so that one run serves every module."""
    return {}


@pytest.fixture(scope="module")
def finished(tiny_model, tmp_path_factory, _demo_runs):
    """The folder of a finished demo run (:meth:`DemoSettings.fast`, the tiny model)."""
    if "fast" not in _demo_runs:
        folder = tmp_path_factory.mktemp("demo") / "out"
        assert run_demo(folder, model=tiny_model, settings=DemoSettings.fast(), progress=False) == folder / "report.md"
        _demo_runs["fast"] = folder
    return _demo_runs["fast"]


@pytest.fixture(scope="module")
def results(finished) -> dict:
    """The finished run's step results (netCDF outputs) by name, as the run read them back."""
    manifest = json.loads((finished / "manifest.json").read_text())
    return {
        name: read_netcdf(finished / output["file"])
        for record in manifest["steps"].values()
        for name, output in record["outputs"].items()
        if output["kind"] == "netcdf"
    }
