"""Grating: temporal frequency from an FFT in time, spatial period from an FFT in space,
drift direction and speed from exact shifts."""

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import grating


def _peak_frequency(signal, spacing):
    spectrum = np.abs(np.fft.rfft(signal - signal.mean()))
    return np.fft.rfftfreq(len(signal), d=spacing)[np.argmax(spectrum)]


@pytest.mark.parametrize("temporal_frequency_hz", [2.0, 3.5])
def test_one_pixel_oscillates_at_the_temporal_frequency(temporal_frequency_hz):
    stim = grating(n_frames=400, size=20, temporal_frequency_hz=temporal_frequency_hz, contrast=0.7)
    trace = stim.values[:, 7, 3]
    assert _peak_frequency(trace, 1 / 100.0) == pytest.approx(temporal_frequency_hz)
    assert np.abs(trace).max() == pytest.approx(0.7, rel=1e-3)


def test_frame_has_the_spatial_period_along_the_direction():
    frame = grating(n_frames=1, spatial_period_px=10.0, direction_deg=0.0).values[0]
    assert 1 / _peak_frequency(frame[13], 1.0) == pytest.approx(10.0)
    assert np.ptp(frame[:, 13]) < 1e-6  # bars are vertical: constant down a column
    frame = grating(n_frames=1, spatial_period_px=10.0, direction_deg=90.0).values[0]
    assert 1 / _peak_frequency(frame[:, 5], 1.0) == pytest.approx(10.0)
    # oblique: wave vector (0.08, 0.06) cycles/px has length 1/10 at atan2(3, 4) = 36.87 deg
    frame = grating(n_frames=1, spatial_period_px=10.0, direction_deg=np.degrees(np.arctan2(3, 4))).values[0]
    power = np.abs(np.fft.fft2(frame))
    ky, kx = np.unravel_index(np.argmax(power), power.shape)
    assert {(ky, kx), (50 - ky, 50 - kx)} == {(3, 4), (47, 46)}


def test_bars_drift_towards_the_direction_at_period_times_frequency():
    # 10 px x 2 Hz = 20 px/s = 1 px every 5 frames at 100 Hz; 50 px hold 5 whole periods
    stim = grating(n_frames=20, spatial_period_px=10.0, temporal_frequency_hz=2.0, direction_deg=0.0).values
    np.testing.assert_allclose(stim[5], np.roll(stim[0], 1, axis=1), atol=1e-5)
    stim = grating(n_frames=20, spatial_period_px=10.0, temporal_frequency_hz=2.0, direction_deg=270.0).values
    np.testing.assert_allclose(stim[10], np.roll(stim[0], -2, axis=0), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"spatial_period_px": 1.5}, "spatial_period_px is 1.5"),
        ({"temporal_frequency_hz": 60.0}, "temporal_frequency_hz is 60"),
        ({"direction_deg": "left"}, "direction_deg is 'left'"),
    ],
)
def test_bad_parameters_raise(kwargs, fragment):
    with pytest.raises(RetinaCodecError, match=fragment):
        grating(**kwargs)
