"""object_motion: walks, disk geometry and rendering against an independent supersampled grating."""

from __future__ import annotations

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli.object_motion import object_motion, square_wave_pixels


def supersampled_square_wave(position_px: np.ndarray, period_px: float, n_sub: int = 2000) -> np.ndarray:
    """Pixel averages of a ±1 square wave by brute-force sampling inside each pixel."""
    offsets = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    u = position_px[..., None] + offsets
    wave = np.where(np.mod(u / period_px, 1.0) < 0.5, 1.0, -1.0)
    return wave.mean(axis=-1)


@pytest.mark.parametrize("shift", [0.0, 0.25, 1.0, 2.6, -3.3])
@pytest.mark.parametrize("period", [4.0, 7.0])
def test_square_wave_pixels_matches_supersampling(shift, period):
    x = np.arange(20.0)
    np.testing.assert_allclose(
        square_wave_pixels(x - shift, period), supersampled_square_wave(x - shift, period), atol=2e-3
    )


def test_global_mode_moves_object_and_background_together():
    stim = object_motion(n_frames=300, seed=3, mode="global", jitter_px=1.0, bar_period_px=6.0)
    np.testing.assert_array_equal(stim["object_shift"], stim["background_shift"])
    # Every frame is then one full-field grating: compare with an independent rendering.
    x = np.arange(50.0)
    for t in (0, 57, 299):
        expected = supersampled_square_wave(x - float(stim["object_shift"][t]), 6.0)
        np.testing.assert_allclose(stim.values[t], np.broadcast_to(expected, (50, 50)), atol=2e-3)


def test_differential_mode_walks_are_independent_and_object_path_is_shared():
    n = 20001
    diff = object_motion(n_frames=n, seed=5, mode="differential", size=8)
    glob = object_motion(n_frames=n, seed=5, mode="global", size=8)
    np.testing.assert_array_equal(diff["object_shift"], glob["object_shift"])
    object_steps = np.diff(diff["object_shift"].values)
    background_steps = np.diff(diff["background_shift"].values)
    assert abs(np.corrcoef(object_steps, background_steps)[0, 1]) < 4 / np.sqrt(n)
    assert not np.array_equal(object_steps, background_steps)


@pytest.mark.parametrize("jitter", [0.5, 1.0, 2.0])
def test_jitter_steps_are_plus_minus_jitter(jitter):
    n = 10001
    stim = object_motion(n_frames=n, seed=1, mode="differential", jitter_px=jitter, size=8)
    for walk in ("object_shift", "background_shift"):
        steps = np.diff(stim[walk].values)
        np.testing.assert_allclose(np.abs(steps), jitter)
        assert abs(steps.mean()) < 4 * jitter / np.sqrt(n)
        assert steps.std() == pytest.approx(jitter, rel=0.01)
    assert float(stim["object_shift"][0]) == 0.0


def test_disk_shows_object_phase_and_surround_background_phase():
    center = (20.0, 27.0)
    radius = 6.0
    stim = object_motion(
        n_frames=200,
        seed=2,
        mode="differential",
        center=center,
        object_radius_px=radius,
        bar_period_px=5.0,
        contrast=0.5,
    )
    t = int(np.argmax(np.abs(stim["object_shift"].values - stim["background_shift"].values) > 1.5))
    assert t > 0
    x = np.arange(50.0)
    rows, cols = np.mgrid[0:50, 0:50]
    inside = np.hypot(rows - center[0], cols - center[1]) <= radius
    object_row = 0.5 * supersampled_square_wave(x - float(stim["object_shift"][t]), 5.0)
    background_row = 0.5 * supersampled_square_wave(x - float(stim["background_shift"][t]), 5.0)
    expected = np.where(inside, object_row[None, :], background_row[None, :])
    np.testing.assert_allclose(stim.values[t], expected, atol=2e-3)
    assert np.abs(stim.values).max() <= 0.5 + 1e-6


def test_attrs_and_seed_reproducibility():
    a = object_motion(n_frames=50, seed=9)
    b = object_motion(n_frames=50, seed=9)
    c = object_motion(n_frames=50, seed=10)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert a.attrs["kind"] == "object_motion" and a.attrs["mode"] == "differential"
    assert a.attrs["frame_rate_hz"] == 100.0 and a.dims == ("time", "y", "x")
    assert a.attrs["center"] == [24.5, 24.5]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "sideways"}, "mode"),
        ({"object_radius_px": 0.0}, "object_radius_px"),
        ({"jitter_px": -1.0}, "jitter_px"),
        ({"bar_period_px": 1.0}, "bar_period_px"),
        ({"contrast": 1.5}, "contrast"),
        ({"center": (60.0, 10.0)}, "center"),
        ({"center": 3.0}, "center"),
        ({"n_frames": 0}, "n_frames"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(RetinaCodecError, match=match):
        object_motion(**kwargs)
