"""White noise, stationary and switching: statistics against their definitions, check layout,
seeding, the switching schedule, bad input."""

import re

import numpy as np
import pytest
from scipy import stats

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import switching_white_noise, white_noise


def test_binary_values_are_exactly_plus_minus_contrast_with_zero_mean():
    stim = white_noise(n_frames=200, contrast=0.6, seed=3)
    values = stim.values
    assert stim.dims == ("time", "y", "x") and values.shape == (200, 50, 50)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(np.unique(values), np.float32([-0.6, 0.6]))
    n = values.size
    assert abs(values.mean()) < 5 * 0.6 / np.sqrt(n)  # 5 standard errors of a fair coin
    assert values.std() == pytest.approx(0.6, rel=1e-3)


def test_gaussian_noise_is_normal_with_the_set_standard_deviation():
    values = white_noise(n_frames=200, distribution="gaussian", contrast=0.3, seed=1).values
    assert abs(values.mean()) < 5 * 0.3 / np.sqrt(values.size)
    assert values.std() == pytest.approx(0.3, rel=0.01)
    sample = values.ravel()[::25]  # 20,000 values
    assert stats.kstest(sample, "norm", args=(0.0, 0.3)).pvalue > 1e-3


def test_gaussian_noise_at_unit_contrast_is_clipped_to_the_analytic_std():
    values = white_noise(n_frames=100, distribution="gaussian", contrast=1.0, seed=2).values
    assert values.min() == -1.0 and values.max() == 1.0
    clipped_var = stats.norm.expect(lambda z: np.clip(z, -1.0, 1.0) ** 2)
    assert values.std() == pytest.approx(np.sqrt(clipped_var), rel=0.01)
    assert np.mean(np.abs(values) == 1.0) == pytest.approx(2 * stats.norm.sf(1.0), abs=0.01)


def test_frames_and_pixels_are_uncorrelated():
    values = white_noise(n_frames=400, size=20, seed=4).values.astype(float)
    bound = 5 / np.sqrt(values[1:].size)
    assert abs(np.corrcoef(values[1:].ravel(), values[:-1].ravel())[0, 1]) < bound
    assert abs(np.corrcoef(values[:, :, 1:].ravel(), values[:, :, :-1].ravel())[0, 1]) < bound


def test_block_size_makes_constant_checks_cut_at_the_edge():
    stim = white_noise(n_frames=300, size=10, block_size=3, seed=5)
    values = stim.values
    for y0 in range(0, 10, 3):
        for x0 in range(0, 10, 3):
            block = values[:, y0 : y0 + 3, x0 : x0 + 3]
            assert (block == block[:, :1, :1]).all()
    assert abs(np.corrcoef(values[:, 0, 0], values[:, 0, 3])[0, 1]) < 0.25
    assert stim.attrs["block_size"] == 3


def test_same_seed_same_frames_other_seed_other_frames():
    a = white_noise(n_frames=20, size=8, seed=7)
    b = white_noise(n_frames=20, size=8, seed=7)
    c = white_noise(n_frames=20, size=8, seed=8)
    np.testing.assert_array_equal(a.values, b.values)
    assert (a.values != c.values).mean() > 0.3


def test_attrs_record_parameters_and_time_axis():
    stim = white_noise(n_frames=10, size=6, frame_rate_hz=50, contrast=0.5, seed=9)
    for key, value in dict(
        kind="white_noise",
        n_frames=10,
        size=6,
        frame_rate_hz=50.0,
        distribution="binary",
        contrast=0.5,
        block_size=1,
        seed=9,
        units="1",
    ).items():
        assert stim.attrs[key] == value
    assert "retinacodec_version" in stim.attrs
    np.testing.assert_allclose(stim["time"].values, np.arange(10) / 50.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"contrast": 1.5}, "contrast is 1.5"),
        ({"n_frames": -3}, "n_frames is -3"),
        ({"n_frames": 2.5}, "n_frames is 2.5"),
        ({"distribution": "uniform"}, "expected one of: binary, gaussian"),
        ({"block_size": 0}, "block_size is 0"),
        ({"seed": -1}, "seed is -1"),
        ({"frame_rate_hz": 0}, "frame_rate_hz is 0"),
    ],
)
def test_bad_parameters_raise_one_line_errors(kwargs, fragment):
    with pytest.raises(RetinaCodecError, match=fragment) as info:
        white_noise(**kwargs)
    assert "\n" not in str(info.value)


def test_switching_noise_holds_each_epochs_contrast_and_mean():
    stim = switching_white_noise(
        n_frames=2050, size=12, contrasts=[0.2, 0.6], means=[-0.3, 0.0, 0.3], switch_frames=100, seed=2
    )
    values = stim.values
    contrast, mean = stim["epoch_contrast"].values, stim["epoch_mean"].values
    assert values.shape == (2050, 12, 12) and values.dtype == np.float32
    for start in range(0, 2050, 100):  # 21 epochs, the last one cut to 50 frames
        epoch = slice(start, start + 100)
        assert len(np.unique(contrast[epoch])) == 1 and len(np.unique(mean[epoch])) == 1
        expected = np.float32([mean[start] - contrast[start], mean[start] + contrast[start]])
        np.testing.assert_array_equal(np.unique(values[epoch]), np.unique(expected))
    epochs = contrast[::100], mean[::100]
    assert set(epochs[0]) == {np.float32(0.2), np.float32(0.6)}
    assert set(epochs[1]) == {np.float32(-0.3), np.float32(0.0), np.float32(0.3)}
    # the schedule is drawn, not cycled: contrast and mean are not locked to each other
    assert len(set(zip(*epochs))) >= 5


def test_switching_noise_checks_stay_independent_within_an_epoch():
    stim = switching_white_noise(n_frames=3000, size=16, contrasts=[0.5], means=[0.0, 0.4], switch_frames=3000, seed=5)
    centred = stim.values.astype(float) - stim["epoch_mean"].values[:, None, None]
    bound = 5 / np.sqrt(centred[1:].size)
    assert abs(np.corrcoef(centred[1:].ravel(), centred[:-1].ravel())[0, 1]) < bound
    assert centred.std() == pytest.approx(0.5, rel=1e-3)


def test_switching_gaussian_noise_is_clipped_after_the_mean_is_added():
    stim = switching_white_noise(
        n_frames=400, size=10, distribution="gaussian", contrasts=[0.5], means=[0.8], switch_frames=400, seed=1
    )
    values = stim.values
    assert values.max() == 1.0
    assert np.mean(values == 1.0) == pytest.approx(stats.norm.sf(0.2 / 0.5), abs=0.02)


def test_switching_noise_is_seeded_and_records_its_parameters():
    kwargs = dict(n_frames=300, size=6, contrasts=[0.2, 0.4], means=[0.1], switch_frames=50)
    a, b = switching_white_noise(seed=4, **kwargs), switching_white_noise(seed=4, **kwargs)
    np.testing.assert_array_equal(a.values, b.values)
    assert (a.values != switching_white_noise(seed=5, **kwargs).values).mean() > 0.3
    for key, value in dict(
        kind="switching_white_noise", contrasts=[0.2, 0.4], means=[0.1], switch_frames=50, block_size=1, seed=4
    ).items():
        assert a.attrs[key] == value


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"contrasts": []}, "contrasts is []; expected a non-empty list"),
        ({"contrasts": [0.2, 1.4]}, "contrasts is 1.4"),
        ({"means": "dark"}, "means is 'dark'"),
        ({"means": [-1.5]}, "means is -1.5"),
        ({"contrasts": [0.8], "means": [-0.3]}, "expected |mean| + contrast <= 1"),
        ({"switch_frames": 0}, "switch_frames is 0"),
    ],
)
def test_switching_noise_bad_parameters_raise_one_line_errors(kwargs, fragment):
    with pytest.raises(RetinaCodecError, match=re.escape(fragment)) as info:
        switching_white_noise(n_frames=100, size=4, **kwargs)
    assert "\n" not in str(info.value)
