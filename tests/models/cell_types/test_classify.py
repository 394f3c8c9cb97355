"""Functional types of synthetic LN and energy-model cells, and the unclassified reasons."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.models.cell_types import functional_types, is_full_field
from retinacodec.models.cell_types.classify import MIN_SPIKES, decide
from retinacodec.models.cell_types.flash import is_flash_protocol

RATE_HZ = 100.0
LAGS = np.arange(50) / RATE_HZ


def _gamma(tau: float) -> np.ndarray:
    t = LAGS / tau
    return t**2 * np.exp(-t)


SUSTAINED = _gamma(0.03) / _gamma(0.03).max()
TRANSIENT = _gamma(0.02) / _gamma(0.02).max() - 0.7 * _gamma(0.05) / _gamma(0.05).max()


def _drive(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.convolve(signal, kernel)[: signal.size] / np.linalg.norm(kernel)


@pytest.mark.slow
def test_synthetic_cells_are_typed_by_their_filters_and_nonlinearities():
    rng = np.random.default_rng(1)
    signal = rng.normal(size=60_000)
    cells = [
        20 * np.maximum(_drive(signal, SUSTAINED), 0),  # ON sustained
        20 * np.maximum(-_drive(signal, SUSTAINED), 0),  # OFF sustained
        20 * np.maximum(-_drive(signal, TRANSIENT), 0),  # OFF transient
        10 * np.abs(_drive(signal, TRANSIENT)),  # ON-OFF: rectified energy
        np.full(signal.size, 10.0),  # no stimulus dependence
        np.full(signal.size, 0.2),  # too few spikes
    ]
    rng = np.random.default_rng(2)
    stimulus = xr.DataArray(signal[:, None, None].astype(np.float32), dims=("time", "y", "x"))
    stimulus.attrs["frame_rate_hz"] = RATE_HZ
    spikes = xr.DataArray(np.stack([rng.poisson(c / RATE_HZ) for c in cells], 1), dims=("time", "cell"))
    typed = functional_types(stimulus, spikes.assign_coords(cell=np.arange(6)))
    assert list(typed["cell_type"].values) == ["on", "off", "off_transient", "on_off", "unclassified", "unclassified"]
    assert typed["reason"].values[4].startswith("no clear polarity")
    assert typed["reason"].values[5].startswith("too few spikes")
    assert typed["polarity"].values[0] == 1 and typed["polarity"].values[1] == -1
    assert typed["biphasic_index"].values[2] > 0.5 > typed["biphasic_index"].values[0]
    assert typed["on_off_index"].values[3] > 0.8 > typed["on_off_index"].values[0]
    assert typed.attrs["stimulus"] == "full-field" and np.isnan(typed["rf_y"].values).all()
    assert typed["sta"].dims == ("cell", "lag") and typed["lag"].values[1] == pytest.approx(0.01)
    assert typed["peak_lag_s"].values[0] == pytest.approx(LAGS[np.argmax(SUSTAINED)], abs=0.021)


def test_decide_gives_every_reason():
    base = dict(n_spikes=1000, peak_z=10.0, polarity=-1, biphasic_index=0.2, on_off_index=0.0, opposite_z=0.0)
    assert decide(base) == ("off", decide(base)[1])
    assert decide({**base, "n_spikes": MIN_SPIKES - 1})[0] == "unclassified"
    label, reason = decide(base, found=False)
    assert label == "unclassified" and "no receptive field" in reason
    assert decide({**base, "peak_z": 2.0})[1].startswith("no clear polarity")
    assert decide({**base, "biphasic_index": 0.7, "polarity": 1})[0] == "on_transient"
    assert decide({**base, "on_off_index": 0.5, "opposite_z": 5.0})[0] == "on_off"
    assert decide({**base, "on_off_index": 0.5, "opposite_z": 1.0})[0] == "off"  # not significant


def test_full_field_is_recognised_on_frames_of_any_size():
    uniform = xr.DataArray(np.ones((3, 4, 4)) * np.arange(3)[:, None, None], dims=("time", "y", "x"))
    assert is_full_field(uniform)
    assert not is_full_field(uniform.copy(data=np.random.default_rng(0).normal(size=(3, 4, 4))))


@pytest.mark.slow
def test_spatial_stimulus_finds_the_receptive_field():
    rng = np.random.default_rng(3)
    movie = rng.choice([-1.0, 1.0], size=(30_000, 12, 12)).astype(np.float32)
    drive = _drive(movie[:, 4, 7].astype(np.float64), SUSTAINED)
    counts = rng.poisson(30 * np.maximum(drive, 0) / RATE_HZ)[:, None]
    stimulus = xr.DataArray(movie, dims=("time", "y", "x"), attrs={"frame_rate_hz": RATE_HZ})
    typed = functional_types(stimulus, xr.DataArray(counts, dims=("time", "cell")).assign_coords(cell=[0]))
    assert typed.attrs["stimulus"] == "spatial"
    assert (typed["rf_y"].item(), typed["rf_x"].item()) == (4, 7)
    assert typed["cell_type"].item() == "on"


def test_bad_inputs_are_refused():
    stimulus = xr.DataArray(np.zeros((200, 1, 1)), dims=("time", "y", "x"), attrs={"frame_rate_hz": 100.0})
    spikes = xr.DataArray(np.zeros((200, 2)), dims=("time", "cell"))
    with pytest.raises(RetinaCodecError, match=r"expected a DataArray \(time, cell\)"):
        functional_types(stimulus, spikes.rename(cell="unit"))
    with pytest.raises(RetinaCodecError, match="frame bins"):
        functional_types(stimulus, spikes.isel(time=slice(0, 100)))
    with pytest.raises(RetinaCodecError, match="frame_rate_hz"):
        functional_types(stimulus.assign_attrs(frame_rate_hz=None), spikes)
    with pytest.raises(RetinaCodecError, match="two filter lengths"):
        functional_types(stimulus.isel(time=slice(0, 60)), spikes.isel(time=slice(0, 60)))


def test_a_flash_protocol_is_typed_from_its_step_responses():
    from retinacodec.stimuli import flash

    stimulus = flash(n_frames=30_000, size=1, period_s=2.0, contrast=0.5)
    light = (stimulus.values[:, 0, 0] > 0).astype(float)
    steps = np.abs(np.diff(light, prepend=light[0]))
    onsets = np.convolve(steps * light, np.exp(-np.arange(30) / 8.0))[: light.size]  # transient after light on
    offsets = np.convolve(steps * (1 - light), np.exp(-np.arange(30) / 8.0))[: light.size]
    rates = [2 + 30 * light, 2 + 30 * (1 - light), 2 + 60 * onsets, 2 + 60 * (onsets + offsets)]
    rates.append(np.full(light.size, 5.0))
    rng = np.random.default_rng(4)
    spikes = xr.DataArray(np.stack([rng.poisson(r / RATE_HZ) for r in rates], 1), dims=("time", "cell"))
    typed = functional_types(stimulus, spikes.assign_coords(cell=np.arange(5)))
    assert typed.attrs["stimulus"] == "flash" and np.isnan(typed["sta"].values).all()
    assert list(typed["cell_type"].values) == ["on", "off", "on_transient", "on_off", "unclassified"]
    assert typed["transience_index"].values[2] > 0.5 > typed["transience_index"].values[0]
    assert "step response" in typed["reason"].values[0] and "no clear polarity" in typed["reason"].values[4]
    noise = np.random.default_rng(5).choice([-1.0, 1.0], 1000)  # binary flicker: 2 levels, but changes often
    assert is_flash_protocol(light) and not is_flash_protocol(noise)
