"""Natural images with eye-movement jitter: gaze statistics against the set values, frame content
against an independent resampling of the photographs."""

import numpy as np
import pytest
from scipy import ndimage, stats
from scipy.interpolate import RegularGridInterpolator
from sklearn.datasets import load_sample_image

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import natural_jitter
from retinacodec.stimuli.natural import EyeMovements


@pytest.fixture(scope="module")
def long_walk():
    """200 s of gaze on a small window: enough steps and saccades for tight statistics."""
    return natural_jitter(
        n_frames=20000,
        size=8,
        eye_movements=EyeMovements(
            drift_std_px=0.5, saccade_rate_hz=2.0, saccade_amplitude_px=12.0, switch_probability=0.3
        ),
        seed=11,
        progress=False,
    )


def _gaze(stim):
    return np.stack([stim["gaze_y"].values, stim["gaze_x"].values], axis=1)


@pytest.mark.slow
def test_drift_steps_have_the_set_standard_deviation(long_walk):
    steps = np.diff(_gaze(long_walk), axis=0)
    drift = steps[~long_walk["saccade"].values[1:]]
    assert len(drift) > 19000
    np.testing.assert_allclose(drift.std(axis=0), 0.5, rtol=0.03)
    np.testing.assert_allclose(drift.mean(axis=0), 0.0, atol=5 * 0.5 / np.sqrt(len(drift)))
    # Gaussian steps: a KS test of one axis against N(0, 0.5^2)
    assert stats.kstest(drift[:, 0], "norm", args=(0.0, 0.5)).pvalue > 1e-3


@pytest.mark.slow
def test_saccades_come_at_the_set_rate_with_the_set_amplitude(long_walk):
    saccade = long_walk["saccade"].values
    duration_s = long_walk.sizes["time"] / long_walk.attrs["frame_rate_hz"]
    expected = 2.0 * duration_s  # 400 saccades
    assert abs(saccade.sum() - expected) < 4 * np.sqrt(expected)
    image = long_walk["image_index"].values
    switched = saccade[1:] & (image[1:] != image[:-1])
    within = saccade[1:] & (image[1:] == image[:-1])
    assert switched.sum() / saccade.sum() == pytest.approx(0.3, abs=0.1)
    lengths = np.linalg.norm(np.diff(_gaze(long_walk), axis=0)[within], axis=1)
    # within an image a saccade is exactly 12 px long unless it was mirrored at an image edge
    assert np.mean(np.isclose(lengths, 12.0)) > 0.9
    # drift alone never switches image
    assert (image[1:] == image[:-1])[~saccade[1:]].all()


def test_values_lie_in_the_contrast_range_and_scale_with_contrast():
    half = natural_jitter(n_frames=200, contrast=0.5, seed=3, progress=False)
    full = natural_jitter(n_frames=200, contrast=1.0, seed=3, progress=False)
    assert half.dims == ("time", "y", "x") and half.shape == (200, 50, 50)
    assert half.dtype == np.float32
    assert half.values.min() >= -0.5 and half.values.max() <= 0.5
    np.testing.assert_allclose(half.values, 0.5 * full.values, rtol=1e-6)


def test_frames_are_the_photograph_sampled_at_the_gaze():
    """Scale 1 (no blur): rebuild each frame from the photograph with ITU-R 601 luma weights and
    scipy's RegularGridInterpolator, independently of the generator's Pillow + map_coordinates."""
    stim = natural_jitter(
        n_frames=5, size=20, scale=1.0, images=["flower"], eye_movements={"drift_std_px": 3.0}, seed=4, progress=False
    )
    rgb = load_sample_image("flower.jpg").astype(float)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    contrast = (luma - luma.mean()) / np.abs(luma - luma.mean()).max()
    interpolate = RegularGridInterpolator((np.arange(luma.shape[0]), np.arange(luma.shape[1])), contrast)
    offsets = np.arange(20) - 9.5
    for t in range(5):
        rows = stim["gaze_y"].values[t] + offsets
        cols = stim["gaze_x"].values[t] + offsets
        points = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
        # Pillow rounds luma to integers: at most 0.5 grey level of difference
        tolerance = 0.5 / np.abs(luma - luma.mean()).max() + 1e-6
        np.testing.assert_allclose(stim.values[t], interpolate(points), atol=tolerance)


def test_consecutive_frames_are_shifted_by_the_gaze_step():
    eyes = EyeMovements(drift_std_px=1.5, saccade_rate_hz=0.0)
    stim = natural_jitter(n_frames=30, size=30, eye_movements=eyes, seed=6, progress=False)
    steps = np.diff(_gaze(stim), axis=0)
    inner = (slice(6, -6), slice(6, -6))
    for t in range(29):
        predicted = ndimage.shift(stim.values[t].astype(float), -steps[t], order=3)
        error = np.abs(predicted[inner] - stim.values[t + 1][inner]).mean()
        unshifted = np.abs(stim.values[t][inner] - stim.values[t + 1][inner]).mean()
        assert error < 0.5 * unshifted + 1e-3


def test_seed_reproduces_and_records_parameters():
    a = natural_jitter(n_frames=40, size=10, seed=5, progress=False)
    b = natural_jitter(n_frames=40, size=10, seed=5, progress=False)
    c = natural_jitter(n_frames=40, size=10, seed=6, progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a["gaze_x"].values, b["gaze_x"].values)
    assert not np.array_equal(a["gaze_x"].values, c["gaze_x"].values)
    assert a.attrs["images"] == ["china", "flower"] and a.attrs["scale"] == 2.0
    assert a.attrs["seed"] == 5 and a.attrs["kind"] == "natural_jitter"
    assert a.attrs["drift_std_px"] == 0.5 and a.attrs["switch_probability"] == 0.25  # the eye movements, flat


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"images": ["lena"]}, "expected one of: china, flower"),
        ({"images": "china"}, "expected a non-empty list"),
        ({"scale": 9.0}, "does not fit"),
        ({"eye_movements": {"switch_probability": 2.0}}, "switch_probability is 2"),
        ({"eye_movements": {"drift_std_px": -1.0}}, "drift_std_px is -1"),
        ({"eye_movements": {"drift": 1.0}}, "unknown eye_movements field.*'drift'"),
        ({"eye_movements": 0.5}, "expected EyeMovements"),
        ({"contrast": -0.2}, "contrast is -0.2"),
    ],
)
def test_bad_parameters_raise(kwargs, fragment):
    with pytest.raises(RetinaCodecError, match=fragment):
        natural_jitter(n_frames=5, progress=False, **kwargs)
