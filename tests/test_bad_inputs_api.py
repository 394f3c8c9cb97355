"""Bad input to the public API: each call raises RetinaCodecError naming what was wrong."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import retinacodec as rc
from retinacodec.errors import RetinaCodecError
from retinacodec.targets import Cell

LAYER = "amacrine"


@pytest.fixture(scope="module")
def model():
    return rc.models.load("default")


@pytest.fixture(scope="module")
def stimulus():
    return rc.stimuli.make_stimulus(np.zeros((45, 50, 50), np.float32), 100.0, kind="blank")


@pytest.fixture(scope="module")
def files(tmp_path_factory, stimulus) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_api")
    nwb = rc.io.write_nwb(folder / "good.nwb", stimulus, [[0.1], [0.2]])
    paths = {
        "random": folder / "random.nc",
        "truncated_nwb": folder / "truncated.nwb",
        "latin1": folder / "latin1.toml",
        "huge": folder / "huge.toml",
        "bad_json": folder / "bad_json.nc",
        "string_rate": folder / "string_rate.nc",
        "hdf5": folder / "plain.nwb",
        "folder": folder / "a_folder",
    }
    paths["random"].write_bytes(np.random.default_rng(0).bytes(3000))
    paths["truncated_nwb"].write_bytes(nwb.read_bytes()[:1000])
    paths["latin1"].write_bytes('kind = "flash"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    paths["huge"].write_text('kind = "white_noise"\n[parameters]\nn_frames = 1000000000000\n')
    bad = stimulus.copy()
    bad.attrs["_retinacodec_json_attrs"] = "[oops"
    bad.to_dataset(name="stimulus").to_netcdf(paths["bad_json"])
    fast = stimulus.copy()
    fast.attrs["frame_rate_hz"] = "fast"
    fast.to_dataset(name="stimulus").to_netcdf(paths["string_rate"])
    with h5py.File(paths["hdf5"], "w") as handle:
        handle["x"] = np.arange(3)
    paths["folder"].mkdir()
    paths["missing"] = folder / "missing.nc"
    return paths


def _raises(call, fragment: str) -> None:
    with pytest.raises(RetinaCodecError) as info:
        call()
    assert fragment in str(info.value), str(info.value)


CONTRIBUTION_CASES = [
    ("unknown layer", {"layer": "nope"}, "unknown layer 'nope'"),
    ("superscript target", {"target": "cell:²"}, "cannot read target 'cell:²'"),
    ("negative cell", {"target": "cell:-1"}, "cell index -1 is out of range"),
    ("unknown type", {"target": "type:NOPE"}, "unknown cell type 'NOPE'"),
    ("n_steps 0", {"n_steps": 0}, "n_steps is 0"),
    ("batch_size -3", {"batch_size": -3}, "batch_size is -3"),
    ("device tpu", {"device": "tpu"}, "unknown device 'tpu'"),
    ("unknown method", {"method": "magic"}, "unknown quadrature method 'magic'"),
    ("unknown baseline", {"baseline": "median"}, "baseline"),
]


@pytest.mark.parametrize(
    ("change", "fragment"), [c[1:] for c in CONTRIBUTION_CASES], ids=[c[0] for c in CONTRIBUTION_CASES]
)
def test_contributions_refuses(model, stimulus, change, fragment):
    arguments = {"layer": LAYER, "target": Cell(0), **change}
    layer, target = arguments.pop("layer"), arguments.pop("target")
    _raises(lambda: rc.contributions(model, stimulus, layer, target, **arguments), fragment)


STIMULUS_SHAPE_CASES = [
    ("unnamed dims", lambda s: xr.DataArray(s.values), "stimulus has dims ('dim_0', 'dim_1', 'dim_2')"),
    ("a row of pixels", lambda s: s.isel(y=0), "stimulus has dims ('time', 'x'); expected (time, y, x)"),
    ("an extra channel dim", lambda s: s.expand_dims(channel=2), "expected (time, y, x)"),
    ("a numpy movie", lambda s: s.values, "a retina model takes a stimulus DataArray (time, y, x) or windows"),
]


@pytest.mark.parametrize(
    ("change", "fragment"), [c[1:] for c in STIMULUS_SHAPE_CASES], ids=[c[0] for c in STIMULUS_SHAPE_CASES]
)
def test_contributions_refuses_a_stimulus_of_other_dims(model, stimulus, change, fragment):
    """A retina model's stimulus without (time, y, x) is named, not passed on to a convolution."""
    _raises(lambda: rc.contributions(model, change(stimulus), LAYER, Cell(0)), fragment)


def test_contributions_refuses_a_stimulus_without_frame_rate(model, stimulus):
    bare = xr.DataArray(stimulus.values, dims=stimulus.dims)
    _raises(lambda: rc.contributions(model, bare, LAYER, Cell(0)), "frame_rate_hz is None")


IRF_CASES = [
    ("cell out of range", {"cells": [999]}, "cell index 999 is out of range"),
    ("nan time", {"times": [float("nan")]}, "expected finite times"),
    ("time outside", {"times": [50.0]}, "outside the stimulus frames"),
    ("n_steps 0", {"method": "ig", "n_steps": 0}, "n_steps is 0"),
    ("batch_size -3", {"batch_size": -3}, "batch_size is -3"),
    ("device tpu", {"device": "tpu"}, "unknown device 'tpu'"),
]


@pytest.mark.parametrize(("change", "fragment"), [c[1:] for c in IRF_CASES], ids=[c[0] for c in IRF_CASES])
def test_irf_refuses(model, stimulus, change, fragment):
    arguments = {"cells": [0], "times": [0.42], **change}
    _raises(lambda: rc.irf(model, stimulus, **arguments), fragment)


SAE_CASES = [
    ("n_modes 0", {"n_modes": 0}, np.ones((200, 4)), "n_modes=0"),
    ("epochs 0", {"epochs": 0}, np.ones((200, 4)), "epochs=0"),
    ("batch_size -3", {"batch_size": -3}, np.ones((200, 4)), "batch_size=-3"),
    ("fewer samples than a batch", {}, np.random.default_rng(0).random((12, 4)), "fewer than batch_size=128"),
    ("nan input", {}, np.full((200, 4), np.nan), "NaN or infinite"),
    ("no features", {}, np.ones((200, 0)), "expected at least one sample and one feature"),
    ("threshold 2", {"threshold": 2.0}, np.ones((200, 4)), "threshold=2.0"),
]


@pytest.mark.parametrize(("params", "X", "fragment"), [c[1:] for c in SAE_CASES], ids=[c[0] for c in SAE_CASES])
def test_sae_fit_refuses(params, X, fragment):
    _raises(lambda: rc.SAE(device="cpu", progress=False, **params).fit(X), fragment)


def _write_with_attr(paths: dict, attrs: dict):
    data = xr.DataArray(np.zeros(3), dims="time", attrs=attrs)
    return rc.io.write_netcdf(data, Path(paths["folder"]).parent / "attrs.nc")


FILE_CASES = [
    ("load unknown model", lambda p: rc.models.load("nope"), "unknown model 'nope'"),
    ("load random bytes", lambda p: rc.models.load(p["random"]), "cannot read checkpoint"),
    ("read_netcdf missing", lambda p: rc.io.read_netcdf(p["missing"]), "netCDF file not found"),
    ("read_netcdf folder", lambda p: rc.io.read_netcdf(p["folder"]), "a_folder is a folder; expected an existing .nc"),
    ("read_netcdf random bytes", lambda p: rc.io.read_netcdf(p["random"]), "cannot read"),
    ("read_netcdf invalid JSON attr", lambda p: rc.io.read_netcdf(p["bad_json"]), "not valid JSON"),
    ("read_nwb missing", lambda p: rc.io.read_nwb(p["missing"]), "NWB file not found"),
    ("read_nwb truncated", lambda p: rc.io.read_nwb(p["truncated_nwb"]), "expected a complete NWB"),
    ("read_nwb random bytes", lambda p: rc.io.read_nwb(p["random"]), "is not an HDF5 file"),
    ("read_nwb plain hdf5", lambda p: rc.io.read_nwb(p["hdf5"]), "no NWB version attribute"),
    ("load_stimulus non-UTF-8", lambda p: rc.stimuli.load_stimulus(p["latin1"]), "is not UTF-8 text"),
    ("load_stimulus unknown", lambda p: rc.stimuli.load_stimulus("nope"), "unknown protocol 'nope'"),
    ("load_stimulus string rate", lambda p: rc.stimuli.load_stimulus(p["string_rate"]), "frame_rate_hz is 'fast'"),
    ("render_protocol huge", lambda p: rc.stimuli.render_protocol(p["huge"]), "PiB of memory"),
    ("write_netcdf into a folder", lambda p: rc.io.write_netcdf(xr.Dataset(), p["folder"]), "is a folder"),
    ("write_netcdf a set attr", lambda p: _write_with_attr(p, {"tags": {1, 2}}), "attr 'tags' is a set"),
]


@pytest.mark.parametrize(("call", "fragment"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_file_functions_refuse(files, call, fragment):
    _raises(lambda: call(files), fragment)
