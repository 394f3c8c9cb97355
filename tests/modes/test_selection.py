"""Channel weights, each mode's share of each channel, a mode's top channels and the mode tied to
a label, against hand computations."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.modes.selection import associated_mode, channel_shares, channel_weights, top_channels


def test_channel_shares_by_hand():
    weights = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    loadings = np.array([[0.5, 1.0, 0.0], [0.0, 0.0, 0.9]])
    shares = channel_shares(weights, loadings, np.arange(3))
    np.testing.assert_allclose(shares[0], [[1 / 3, 0, 1], [2 / 3, 1, 0], [0, 0, 0]], rtol=1e-6)
    np.testing.assert_array_equal(shares[1], 0.0)  # only a mode with an empty atom is active
    np.testing.assert_allclose(channel_shares(weights, None, np.array([1])), [[[0.5, 1.0, 0.0]]])


def test_channel_weights_of_split_sign_modes_sum_magnitudes_over_sign():
    atoms = xr.DataArray(
        np.array([[[0.2, 0.5], [0.0, 1.0]]]),
        dims=("mode", "channel", "sign"),
        coords={"channel": [0, 1], "sign": ["neg", "pos"]},
        attrs={"layer": "bipolar"},
    )
    stacked = atoms.stack(feature=("channel", "sign"))
    weights = channel_weights(stacked)
    assert weights.dims == ("mode", "channel") and weights.attrs["layer"] == "bipolar"
    np.testing.assert_allclose(weights.values, [[0.7, 1.0]])
    np.testing.assert_allclose(channel_weights(atoms).values, [[0.7, 1.0]])


def test_top_channels_of_a_hand_made_mode():
    weights = np.zeros((2, 100))
    weights[1, [7, 42, 3]] = [0.5, 0.9, 0.2]
    modes = xr.DataArray(weights, dims=("mode", "channel"))
    assert top_channels(modes, 1, fraction=0.02).tolist() == [42, 7]
    assert top_channels(modes, 1, fraction=0.001).tolist() == [42]  # at least one channel
    assert top_channels(modes, 1, fraction=0.03).tolist() == [42, 7, 3]
    split = xr.DataArray(
        np.array([[[0.6, 0.0], [0.1, 0.4], [0.0, 0.3]]]),
        dims=("mode", "channel", "sign"),
        coords={"sign": ["neg", "pos"]},
    ).stack(feature=("channel", "sign"))
    assert top_channels(split, 0, fraction=0.5).tolist() == [0, 1]  # |neg| + |pos|: 0.6, 0.5, 0.3
    with pytest.raises(RetinaCodecError, match="mode 2 is out of range"):
        top_channels(modes, 2)
    with pytest.raises(RetinaCodecError, match="fraction"):
        top_channels(modes, 0, fraction=0.0)


def test_associated_mode_is_the_one_that_loads_on_the_label():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    loadings = rng.uniform(0, 0.2, size=(60, 4))
    loadings[labels == 2, 3] += 1.0
    loadings[:, 0] = 0.5  # constant: skipped
    assert associated_mode(loadings, labels, 2) == 3
    with pytest.raises(RetinaCodecError, match="expected some samples with it and some without"):
        associated_mode(loadings, labels, 7)
