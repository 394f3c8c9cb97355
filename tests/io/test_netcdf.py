"""write_netcdf / read_netcdf: lossless round trips, atomic writes, helpful errors."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_netcdf, write_netcdf

ATTRS = {
    "model": "retina_cnn",
    "n_steps": 32,
    "baseline": 0.0,
    "layers": [1.0, 2.0, 3.0],
    "completed": True,
    "converged": False,
    "seed": None,
    "sae_params": {"n_modes": 12, "threshold": 0.9},
}


def responses() -> xr.Dataset:
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {
            "rate": (("time", "cell"), rng.random((5, 3)), {"units": "Hz", "clipped": False}),
            "spikes": (("time", "cell"), rng.integers(0, 4, (5, 3))),
        },
        coords={
            "time": ("time", np.arange(5) * 0.01, {"units": "s"}),
            "cell": [4, 8, 15],
            "cell_type": ("cell", ["ON", "OFF", "ON"]),
        },
        attrs=ATTRS,
    )
    return ds


def test_dataset_round_trip_keeps_values_coords_and_attrs(tmp_path):
    ds = responses()
    read = read_netcdf(write_netcdf(ds, tmp_path / "responses.nc"))
    assert isinstance(read, xr.Dataset)
    xr.testing.assert_identical(read, ds)
    # True / False / None come back as such, not as text; a list comes back as an array
    assert read.attrs["completed"] is True and read.attrs["converged"] is False
    assert read.attrs["seed"] is None
    assert read.attrs["sae_params"] == {"n_modes": 12, "threshold": 0.9}
    np.testing.assert_array_equal(read.attrs["layers"], ATTRS["layers"])
    assert read["rate"].attrs["clipped"] is False
    assert list(read["cell_type"].values) == ["ON", "OFF", "ON"]


def test_file_is_plain_netcdf4(tmp_path):
    ds = responses()
    path = write_netcdf(ds, tmp_path / "responses.nc")
    with netCDF4.Dataset(path) as nc:  # an independent reader
        np.testing.assert_array_equal(nc["rate"][:], ds["rate"].values)
        assert nc["time"].units == "s"
        assert nc.model == "retina_cnn"


@pytest.mark.parametrize("name", ["contribution", None])
def test_dataarray_round_trip(tmp_path, name):
    da = responses()["rate"].rename(name).assign_attrs(target="cell 4", completeness_error=1e-6)
    read = read_netcdf(write_netcdf(da, tmp_path / "da.nc"))
    assert isinstance(read, xr.DataArray)
    xr.testing.assert_identical(read, da)
    assert read.name == name


def test_stacked_sample_index_round_trip(tmp_path):
    stacked = responses().stack(sample=("time", "cell"))
    read = read_netcdf(write_netcdf(stacked, tmp_path / "stacked.nc"))
    xr.testing.assert_identical(read, stacked)
    index = read.indexes["sample"]
    assert isinstance(index, pd.MultiIndex) and list(index.names) == ["time", "cell"]
    assert read["rate"].sel(time=0.02, cell=8).item() == stacked["rate"].sel(time=0.02, cell=8)

    loadings = stacked["rate"].expand_dims(mode=2).transpose("sample", "mode")
    read_da = read_netcdf(write_netcdf(loadings, tmp_path / "stacked_da.nc"))
    xr.testing.assert_identical(read_da, loadings)


def test_writing_leaves_the_callers_object_unchanged(tmp_path):
    ds = responses().stack(sample=("time", "cell"))
    before = ds.copy(deep=True)
    write_netcdf(ds, tmp_path / "a.nc")
    write_netcdf(ds["rate"], tmp_path / "b.nc")
    xr.testing.assert_identical(ds, before)
    assert ds.attrs == ATTRS and ds["rate"].attrs == {"units": "Hz", "clipped": False}


def failing_to_netcdf(self, path, *args, **kwargs):
    with open(path, "wb") as half_written:
        half_written.write(b"CDF\x01 truncated")
    raise RuntimeError("disk full")


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(xr.Dataset, "to_netcdf", failing_to_netcdf)
    with pytest.raises(RuntimeError, match="disk full"):
        write_netcdf(responses(), tmp_path / "result.nc")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_existing_file(tmp_path, monkeypatch):
    path = write_netcdf(responses(), tmp_path / "result.nc")
    original = path.read_bytes()
    monkeypatch.setattr(xr.Dataset, "to_netcdf", failing_to_netcdf)
    with pytest.raises(RuntimeError, match="disk full"):
        write_netcdf(responses() * 2, path)
    assert path.read_bytes() == original
    assert list(tmp_path.iterdir()) == [path]


def test_write_creates_missing_folders(tmp_path):
    path = write_netcdf(responses(), tmp_path / "runs" / "first" / "r.nc")
    assert path.is_file()


def test_write_rejects_non_xarray(tmp_path):
    with pytest.raises(RetinaCodecError, match="cannot write ndarray.*expected an xarray"):
        write_netcdf(np.zeros(3), tmp_path / "x.nc")


def test_read_missing_file(tmp_path):
    with pytest.raises(RetinaCodecError, match="not found.*expected an existing .nc file"):
        read_netcdf(tmp_path / "absent.nc")


def test_read_text_file(tmp_path):
    path = tmp_path / "notes.nc"
    path.write_text("these are not the data you are looking for\n")
    with pytest.raises(RetinaCodecError, match="cannot read .*notes.nc as netCDF.*expected"):
        read_netcdf(path)


def test_an_attr_that_cannot_be_stored_is_a_clear_error(tmp_path):
    data = xr.DataArray(np.zeros(3), dims="time", attrs={"bad": {"object": object()}})
    with pytest.raises(RetinaCodecError, match="cannot be stored in netCDF"):
        write_netcdf(data, tmp_path / "bad.nc")
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_atomic_writes_get_the_umask_mode_without_toggling_it(tmp_path, monkeypatch):
    from retinacodec.io import atomic

    def no_toggle(mask):
        raise AssertionError("os.umask was toggled after import")

    monkeypatch.setattr(atomic.os, "umask", no_toggle)
    with atomic.atomic_destination(tmp_path / "x.txt") as tmp:
        tmp.write_text("x")
    mode = (tmp_path / "x.txt").stat().st_mode & 0o777
    assert mode == 0o666 & ~atomic._IMPORT_UMASK
