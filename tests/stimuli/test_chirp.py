"""Chirp: segment timing of Baden et al. 2016, the linear frequency law from zero crossings and
the Hilbert phase, the linear amplitude ramp from the Hilbert envelope, repetition."""

import numpy as np
import pytest
from scipy.signal import hilbert

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import chirp


@pytest.fixture(scope="module")
def stim():
    return chirp(size=4, contrast=0.9)


def _segment(stim, label):
    trace = stim.values[:, 0, 0].astype(float)
    where = np.flatnonzero(stim["chirp_segment"].values == label)
    return trace[where], where


def test_one_chirp_lasts_33_s_with_the_standard_steps(stim):
    assert stim.sizes["time"] == 3300 and stim.attrs["chirp_frames"] == 3300
    trace = stim.values[:, 0, 0]
    assert (stim.values == trace[:, None, None]).all()
    second = lambda a, b: trace[int(a * 100) : int(b * 100)]
    np.testing.assert_allclose(second(0, 2), -0.9)  # dark
    np.testing.assert_allclose(second(2, 5), 0.9)  # light step
    np.testing.assert_allclose(second(5, 8), -0.9)  # dark
    np.testing.assert_allclose(second(8, 10), 0.0)  # mean before the frequency sweep
    np.testing.assert_allclose(second(18, 20), 0.0)
    np.testing.assert_allclose(second(28, 30), 0.0)
    np.testing.assert_allclose(second(30, 33), -0.9)
    _, where = _segment(stim, "frequency_sweep")
    assert (where[0], where[-1]) == (1000, 1799)
    _, where = _segment(stim, "amplitude_sweep")
    assert (where[0], where[-1]) == (2000, 2799)


def test_frequency_sweep_zero_crossings_follow_the_linear_chirp(stim):
    """sin(pi K tau^2) crosses zero at tau_n = sqrt(n / K), K = 8 Hz / 8 s = 1 Hz/s."""
    sweep, _ = _segment(stim, "frequency_sweep")
    tau = np.arange(len(sweep)) / 100.0
    after = np.flatnonzero(np.sign(sweep[1:]) * np.sign(sweep[:-1]) < 0) + 1
    crossings = tau[after - 1] + sweep[after - 1] / (sweep[after - 1] - sweep[after]) / 100.0
    n = np.arange(1, len(crossings) + 1)
    assert len(crossings) == 63  # tau_63 = 7.94 s; tau_64 = 8 s is the end of the sweep
    np.testing.assert_allclose(crossings, np.sqrt(n / 1.0), atol=2e-3)


def test_frequency_sweep_instantaneous_frequency_from_the_hilbert_phase(stim):
    sweep, _ = _segment(stim, "frequency_sweep")
    phase = np.unwrap(np.angle(hilbert(sweep)))
    frequency = np.gradient(phase, 1 / 100.0) / (2 * np.pi)
    tau = np.arange(len(sweep)) / 100.0
    middle = (tau > 1.5) & (tau < 6.0)  # away from the sweep's abrupt ends (Hilbert ripple)
    np.testing.assert_allclose(frequency[middle], 1.0 * tau[middle], atol=0.3)
    assert np.mean(np.abs(frequency[middle] - tau[middle])) < 0.1


def test_amplitude_sweep_ramps_linearly_at_2_hz(stim):
    """Projected on sin(2 pi 2 tau) over each 0.5 s cycle, C (tau / T) sin(...) gives the ramp at
    the cycle's midpoint exactly: C (k + 1/2) 0.5 / 8 for cycle k."""
    sweep, _ = _segment(stim, "amplitude_sweep")
    tau = np.arange(len(sweep)) / 100.0
    cycles = (sweep * np.sin(2 * np.pi * 2.0 * tau)).reshape(16, 50)
    amplitude = 2 * cycles.mean(axis=1)
    np.testing.assert_allclose(amplitude, 0.9 * (np.arange(16) + 0.5) * 0.5 / 8.0, atol=1e-6)
    envelope = np.abs(hilbert(sweep))
    middle = (tau > 1.5) & (tau < 6.5)
    np.testing.assert_allclose(envelope[middle], 0.9 * tau[middle] / 8.0, atol=0.02)
    spectrum = np.abs(np.fft.rfft(sweep))
    assert np.fft.rfftfreq(len(sweep), 1 / 100.0)[np.argmax(spectrum)] == pytest.approx(2.0)
    assert np.abs(sweep).max() <= 0.9


def test_n_frames_cuts_or_repeats_the_chirp():
    one = chirp(size=2).values
    short = chirp(size=2, n_frames=500).values
    long = chirp(size=2, n_frames=5000)
    np.testing.assert_array_equal(short, one[:500])
    np.testing.assert_array_equal(long.values[3300:], one[:1700])
    assert long["chirp_segment"].values[3300 + 250] == "light"
    assert chirp(size=2, frame_rate_hz=60).sizes["time"] == 33 * 60


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_frequency_hz": 50.0}, "max_frequency_hz is 50"),
        ({"n_frames": 0}, "n_frames is 0"),
        ({"contrast": 1.1}, "contrast is 1.1"),
    ],
)
def test_bad_parameters_raise(kwargs, fragment):
    with pytest.raises(RetinaCodecError, match=fragment):
        chirp(**kwargs)
