"""Stimulus validation: luminance is converted to contrast, raw values and a disordered time axis refused."""

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.models.registry import load, windows
from retinacodec.stimuli.base import make_stimulus, validate_stimulus


def _luminance(units: str):
    rng = np.random.default_rng(0)
    frames = rng.uniform(4000.0, 6000.0, size=(6, 4, 4)).astype(np.float32)
    return xr.DataArray(frames, dims=("time", "y", "x"), attrs={"frame_rate_hz": 100.0, "units": units})


@pytest.mark.parametrize("units", ["cd/m2", "cd/m²", "Luminance"])
def test_luminance_is_converted_to_weber_contrast_with_a_warning(units):
    stim = _luminance(units)
    mean = float(np.mean(stim.values, dtype=np.float64))
    with pytest.warns(UserWarning, match=r"converted to Weber contrast about its mean"):
        converted = validate_stimulus(stim)
    np.testing.assert_allclose(converted.values, (stim.values - mean) / mean, rtol=1e-5, atol=1e-6)
    assert converted.attrs["units"] == "1" and converted.dtype == np.float32
    assert abs(float(converted.mean())) < 1e-5


def test_luminance_given_as_contrast_is_refused_with_the_range_found():
    with pytest.raises(RetinaCodecError, match=r"span \[4\d{3}.*expected contrast in about \[-1, 1\]"):
        validate_stimulus(_luminance("contrast"))


def test_luminance_with_a_non_positive_mean_is_refused():
    stim = _luminance("cd/m2")
    with pytest.raises(RetinaCodecError, match="expected a positive mean luminance"):
        validate_stimulus(stim.copy(data=-stim.values))


def test_contrast_a_little_outside_one_passes_unchanged():
    stim = make_stimulus(np.full((3, 2, 2), 4.0), kind="test")
    assert float(validate_stimulus(stim).max()) == 4.0


@pytest.mark.parametrize("order", [[2, 1, 0, 3], [0, 1, 1, 2]])
def test_a_time_axis_that_does_not_increase_is_refused(order):
    stim = make_stimulus(np.zeros((4, 2, 2)), kind="test")
    stim = stim.assign_coords(time=stim["time"].values[order])
    with pytest.raises(RetinaCodecError, match="time coordinate does not increase"):
        validate_stimulus(stim)


def test_model_windows_convert_luminance_and_refuse_raw_values():
    model = load("default")
    contrast = make_stimulus(
        np.random.default_rng(1).uniform(-0.5, 0.5, (model.history + 2, model.size, model.size)),
        model.frame_rate_hz,
        kind="test",
    )
    luminance = contrast.copy(data=5000.0 * (1.0 + contrast.values)).assign_attrs(units="cd/m2")
    with pytest.warns(UserWarning, match="Weber contrast"):
        converted, _ = windows(model, luminance)
    mean = float(np.mean(luminance.values, dtype=np.float64))
    expected, _ = windows(model, contrast.copy(data=(luminance.values - mean) / mean))
    assert torch.allclose(converted, expected, atol=1e-5)
    with pytest.raises(RetinaCodecError, match="expected contrast in about"):
        windows(model, luminance.assign_attrs(units="contrast"))
