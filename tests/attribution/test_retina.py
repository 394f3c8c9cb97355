"""Contributions of a (randomly initialised) retina CNN over a stimulus: samples are (time, cell)."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.models.registry import windows
from retinacodec.stimuli.base import make_stimulus
from retinacodec.targets import Cell, CellType

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


@pytest.fixture
def stimulus():
    frames = np.random.default_rng(0).uniform(-1, 1, (10, 16, 16))
    return make_stimulus(frames, frame_rate_hz=100.0, kind="white_noise", seed=0)


def test_samples_are_time_cell_pairs_labeled_from_the_stimulus(stimulus, small_retina):
    model = small_retina()
    ds = contributions(model, stimulus, "amacrine", [Cell(0), Cell(2)], n_steps=4, options=QUIET)
    index = ds.indexes["sample"]
    assert list(index.names) == ["time", "cell"] and ds.sizes == {"sample": 10, "channel": 5}
    expected_times = stimulus.time.values[5:]  # windows end at frames 5..9
    assert np.allclose(index.get_level_values("time"), np.repeat(expected_times, 2))
    assert list(index.get_level_values("cell")) == [0, 2] * 5
    assert list(ds.cell_type.values) == ["ON", "ON"] * 5
    with torch.no_grad():
        rates = model(windows(model, stimulus)[0].double())
    assert np.allclose(ds.target_value.sel(cell=2), rates[:, 2].numpy())
    assert ds.attrs["stimulus"] == "white_noise" and ds.attrs["target"] == "cell:0, cell:2"


def test_mean_baseline_is_the_mean_luminance_stimulus(stimulus, small_retina):
    """Zero contrast, normalised like the stimulus: (0 - 0.1) / 0.5 = -0.2 in every pixel."""
    model = small_retina()
    ds = contributions(model, stimulus, "bipolar", Cell(1), baseline="mean", n_steps=4, options=QUIET)
    with torch.no_grad():
        grey = model(torch.full((1, 6, 16, 16), -0.2, dtype=torch.float64))[0, 1].item()
    assert np.allclose(ds.baseline_value, grey)
    zero = contributions(model, stimulus, "bipolar", Cell(1), baseline="zero", n_steps=4, options=QUIET)
    assert not np.allclose(zero.baseline_value, grey)


@pytest.mark.parametrize(
    "path, layer", [("layer", "amacrine"), ("layer", "bipolar"), ("input", "amacrine"), ("input", "bipolar")]
)
def test_completeness_over_time_for_a_cell_type(stimulus, small_retina, path, layer):
    model = small_retina(smooth=True)
    ds = contributions(
        model,
        stimulus,
        layer,
        CellType("ON"),
        baseline="mean",
        n_steps=12,
        options=AttributionOptions(path=path, split="sign", progress=False),
    )
    assert list(ds.indexes["sample"].names) == ["time", "target"]
    with torch.no_grad():
        rates = model(windows(model, stimulus)[0].double())
    assert np.allclose(ds.target_value, (rates[:, 0] + rates[:, 2]).numpy())
    change = np.abs(ds.target_value - ds.baseline_value)
    assert float((np.abs(ds.completeness_error) / change).max()) < 1e-4


def test_default_sized_retina_cnn_in_float32(make_cnn):
    model = make_cnn(2, tiny=False)
    frames = np.random.default_rng(1).uniform(-1, 1, (42, 50, 50)).astype(np.float32)
    ds = contributions(model, make_stimulus(frames, kind="white_noise"), "amacrine", Cell(1), n_steps=4, options=QUIET)
    assert ds.sizes == {"sample": 3, "channel": 8} and ds.contribution.dtype == np.float32
    assert isinstance(ds, xr.Dataset) and np.isfinite(ds.contribution).all()
    assert float(np.abs(ds.completeness_error).max()) < 1e-4 * max(1.0, float(np.abs(ds.target_value).max()))


def test_a_stimulus_needs_a_retina_model(stimulus):
    from retinacodec.errors import RetinaCodecError

    with pytest.raises(RetinaCodecError, match="needs a retina model"):
        contributions(nn.Sequential(nn.Flatten(), nn.Linear(256, 1)), stimulus, "1", "cell:0", options=QUIET)


def test_result_survives_a_netcdf_round_trip(stimulus, small_retina, tmp_path):
    from retinacodec.io import read_netcdf, write_netcdf

    ds = contributions(
        small_retina(),
        stimulus,
        "amacrine",
        [Cell(0), Cell(1)],
        n_steps=2,
        options=AttributionOptions(split="sign", progress=False),
    )
    xr.testing.assert_identical(read_netcdf(write_netcdf(ds, tmp_path / "contributions.nc")), ds)
