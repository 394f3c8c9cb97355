"""Channel weights and each mode's share of each channel, against hand computations."""
import numpy as np
import xarray as xr

from retinacodec.modes.selection import channel_shares, channel_weights


def test_channel_shares_by_hand():
    weights = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    loadings = np.array([[0.5, 1.0, 0.0], [0.0, 0.0, 0.9]])
    shares = channel_shares(weights, loadings, np.arange(3))
    np.testing.assert_allclose(shares[0], [[1 / 3, 0, 1], [2 / 3, 1, 0], [0, 0, 0]], rtol=1e-6)
    np.testing.assert_array_equal(shares[1], 0.0)  # only a mode with an empty atom is active
    np.testing.assert_allclose(channel_shares(weights, None, np.array([1])), [[[0.5, 1.0, 0.0]]])


def test_channel_weights_of_split_sign_modes_sum_magnitudes_over_sign():
    atoms = xr.DataArray(np.array([[[0.2, 0.5], [0.0, 1.0]]]), dims=("mode", "channel", "sign"),
                         coords={"channel": [0, 1], "sign": ["neg", "pos"]}, attrs={"layer": "bipolar"})
    stacked = atoms.stack(feature=("channel", "sign"))
    weights = channel_weights(stacked)
    assert weights.dims == ("mode", "channel") and weights.attrs["layer"] == "bipolar"
    np.testing.assert_allclose(weights.values, [[0.7, 1.0]])
    np.testing.assert_allclose(channel_weights(atoms).values, [[0.7, 1.0]])
