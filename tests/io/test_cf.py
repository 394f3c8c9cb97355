"""Results other tools understand: CF attributes, the stacked index as cf_xarray encodes it,
old-format files, compression."""

from __future__ import annotations

import json

import netCDF4
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_netcdf, write_netcdf
from retinacodec.io.cf import CONVENTIONS
from retinacodec.modes.workflow import fit_modes
from retinacodec.receptive_fields.instantaneous import irf
from retinacodec.stimuli import white_noise
from retinacodec.targets import Cell

cf_xarray = pytest.importorskip("cf_xarray")

QUIET = AttributionOptions(progress=False)
SPLIT = AttributionOptions(split="sign", progress=False)


@pytest.fixture(scope="module")
def stimulus():
    return white_noise(n_frames=40, size=16, seed=0)


@pytest.fixture(scope="module")
def found(make_cnn, stimulus):
    """Contributions of a tiny retina CNN's bipolar layer to three cells at 30 times."""
    model = make_cnn(cell_type=["ON", "OFF", "ON"], stimulus_mean=0.1, stimulus_std=0.5)
    return contributions(model, stimulus, "bipolar", [Cell(0), Cell(1), Cell(2)], n_steps=4, options=SPLIT)


def opened(path) -> xr.Dataset:
    """The file as another tool sees it: plain xarray, then cf_xarray."""
    with xr.open_dataset(path) as ds:
        return ds.load()


def test_a_stimulus_has_cf_axes_units_and_conventions(tmp_path, stimulus):
    ds = opened(write_netcdf(stimulus, tmp_path / "stim.nc"))
    assert ds.attrs["Conventions"] == CONVENTIONS
    assert ds.cf.axes == {"T": ["time"], "Y": ["y"], "X": ["x"]}
    assert ds["stimulus"].attrs["units"] == "1" and "contrast" in ds["stimulus"].attrs["long_name"]
    assert ds["time"].attrs["units"] == "s" and ds["x"].attrs["units"] == "1"
    assert "pixel" in ds["x"].attrs["long_name"]
    assert "Conventions" not in read_netcdf(tmp_path / "stim.nc").attrs  # our reader gives back what was written


def test_contributions_have_axes_target_units_and_a_stacked_index_cf_xarray_decodes(tmp_path, found):
    path = write_netcdf(found, tmp_path / "c.nc")
    ds = opened(path)
    assert ds.cf.axes == {"T": ["time"]}
    assert ds["sample"].attrs["compress"] == "time cell"
    for name in ("contribution", "target_value", "baseline_value", "completeness_error"):
        assert ds[name].attrs["units"] == "Hz"
    assert "units" not in ds["activation"].attrs  # the layer's units are unknown
    decoded = cf_xarray.decode_compress_to_multi_index(ds)
    assert decoded.indexes["sample"].equals(found.indexes["sample"])
    np.testing.assert_array_equal(decoded["contribution"].values, found["contribution"].values)
    xr.testing.assert_identical(read_netcdf(path), found)


def test_cf_xarray_round_trips_our_stacked_index_and_we_read_what_it_writes(tmp_path, found):
    ours = opened(write_netcdf(found, tmp_path / "ours.nc"))
    theirs = cf_xarray.encode_multi_index_as_compress(found)
    for name in ("sample", "time", "cell"):  # the same encoding
        np.testing.assert_array_equal(ours[name].values, theirs[name].values)
    theirs.attrs = {key: str(value) for key, value in theirs.attrs.items()}
    theirs.to_netcdf(tmp_path / "theirs.nc")
    read = read_netcdf(tmp_path / "theirs.nc")
    assert read.indexes["sample"].equals(found.indexes["sample"])
    np.testing.assert_array_equal(read["contribution"].values, found["contribution"].values)


def test_a_modes_result_has_a_time_axis_and_both_stacked_dims(tmp_path, found):
    _, result = fit_modes(found, n_modes=4, epochs=3, batch_size=16, seed=0, progress=False, stability_fits=0)
    path = write_netcdf(result, tmp_path / "modes.nc")
    ds = opened(path)
    assert ds.cf.axes == {"T": ["time"]}
    assert ds["loadings"].attrs["units"] == "1" and ds["modes"].attrs["units"] == "Hz"
    decoded = cf_xarray.decode_compress_to_multi_index(ds)
    for dim in ("sample", "feature"):
        assert decoded.indexes[dim].equals(result.indexes[dim])
    xr.testing.assert_identical(read_netcdf(path), result)


def test_an_irf_has_time_y_x_axes_and_rate_units(tmp_path, make_cnn, stimulus):
    model = make_cnn(cell_type=["ON", "OFF", "ON"], stimulus_mean=0.1, stimulus_std=0.5)
    result = irf(model, stimulus, cells=[0, 2], times=[0.2, 0.3], options=QUIET)
    path = write_netcdf(result, tmp_path / "irf.nc")
    ds = opened(path)
    assert ds.cf.axes == {"T": ["time"], "Y": ["y"], "X": ["x"]}
    assert ds["irf"].attrs["units"] == "Hz" and "per unit contrast" in ds["irf"].attrs["long_name"]
    assert ds["lag"].attrs["units"] == "s" and "axis" not in ds["lag"].attrs  # one T axis per variable
    xr.testing.assert_identical(read_netcdf(path), result)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize(("target", "units"), [("class:2", "1"), ("top", "1"), (lambda out: out[:, 1], None)])
def test_contributions_carry_the_targets_units(tmp_path, target, units):
    images = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    found = contributions(Classifier(), images, "conv", target, n_steps=4, options=QUIET)
    assert found["contribution"].attrs.get("units") == units
    assert found["completeness_error"].attrs.get("units") == units
    path = write_netcdf(found, tmp_path / "c.nc")  # a one-level stacked index, (image)
    assert opened(path)["sample"].attrs["compress"] == "image"
    xr.testing.assert_identical(read_netcdf(path), found)


def old_format(ds: xr.Dataset, path) -> None:
    """Write ``ds`` as retinacodec wrote netCDF before the CF encoding: stacked dims as level
    coords along the dim, named in a private attr; no Conventions; no compression."""
    stacked = {name: list(index.names) for name, index in ds.indexes.items() if isinstance(index, pd.MultiIndex)}
    stacked = {name: levels for name, levels in stacked.items() if name in ds.dims}
    old = ds.reset_index(list(stacked))
    old.attrs = {**ds.attrs, "_retinacodec_stacked": json.dumps(stacked)}
    old.to_netcdf(path, engine="netcdf4")


def test_files_written_by_the_previous_version_still_read(tmp_path, found):
    old_format(found, tmp_path / "old.nc")
    with netCDF4.Dataset(tmp_path / "old.nc") as nc:
        assert "compress" not in nc["time"].ncattrs() and nc["time"].dimensions == ("sample",)
    xr.testing.assert_identical(read_netcdf(tmp_path / "old.nc"), found)


def test_compression_is_on_by_default_lossless_and_can_be_turned_off(tmp_path):
    stim = white_noise(n_frames=200, size=20, seed=1)
    small = write_netcdf(stim, tmp_path / "zlib.nc")
    plain = write_netcdf(stim, tmp_path / "plain.nc", compress=False)
    assert small.stat().st_size < plain.stat().st_size / 4  # binary noise compresses well
    with netCDF4.Dataset(small) as nc:
        assert nc["stimulus"].filters()["zlib"] and nc["stimulus"].filters()["shuffle"]
    with netCDF4.Dataset(plain) as nc:
        assert not nc["stimulus"].filters()["zlib"]
    for path in (small, plain):
        read = read_netcdf(path)
        xr.testing.assert_identical(read, stim)
        np.testing.assert_array_equal(read.values, stim.values)  # bit for bit


def test_a_compressed_file_rewritten_uncompressed_is_uncompressed(tmp_path):
    stim = white_noise(n_frames=100, size=20, seed=2)
    reread = read_netcdf(write_netcdf(stim, tmp_path / "zlib.nc"))  # its encoding remembers zlib
    with netCDF4.Dataset(write_netcdf(reread, tmp_path / "plain.nc", compress=False)) as nc:
        assert not nc["stimulus"].filters()["zlib"]


def test_small_arrays_stay_uncompressed(tmp_path):
    ds = xr.Dataset({"tiny": ("k", np.arange(8.0)), "big": ("n", np.zeros(4096))})
    with netCDF4.Dataset(write_netcdf(ds, tmp_path / "mixed.nc")) as nc:
        assert not nc["tiny"].filters()["zlib"] and nc["big"].filters()["zlib"]


def test_a_level_that_is_also_a_dim_is_a_clear_error(tmp_path):
    index = pd.MultiIndex.from_product([[0.0, 0.1], [3, 4]], names=["time", "cell"])
    ds = xr.Dataset(
        {"a": ("sample", np.arange(4.0)), "b": ("cell", np.arange(5.0))},
        coords=xr.Coordinates.from_pandas_multiindex(index, "sample"),
    )
    with pytest.raises(RetinaCodecError, match="levels \\['cell'\\] are also dims"):
        write_netcdf(ds, tmp_path / "clash.nc")
    assert not list(tmp_path.iterdir())


def test_a_broken_compress_attribute_is_a_clear_error(tmp_path):
    ds = xr.Dataset(coords={"sample": ("sample", [0, 1, 9], {"compress": "time cell"}), "time": [0.0, 0.1]})
    ds = ds.assign_coords(cell=[3, 4])
    ds.to_netcdf(tmp_path / "broken.nc")
    with pytest.raises(RetinaCodecError, match="does not index the product"):
        read_netcdf(tmp_path / "broken.nc")
