"""Contribution-vs-activation statistics, checked on hand-computable cases."""

import warnings

import numpy as np
import pytest
import xarray as xr

from retinacodec import RetinaCodecError
from retinacodec.modes.compare import (
    channel_sign_correlation,
    dimensions_for_variance,
    hoyer,
    mode_label_comparison,
    mode_labels,
    near_zero_fraction,
    pca_dimensions,
    sign_correlation,
    sparsity,
)


def test_hoyer_extremes_and_a_hand_computed_value():
    assert hoyer(np.eye(5)[2]) == pytest.approx(1.0)
    assert hoyer(np.full(5, -3.0)) == pytest.approx(0.0)
    # x = (3, 4, 0, 0): |x|_1 = 7, |x|_2 = 5, n = 4 -> (2 - 7/5) / (2 - 1) = 0.6
    assert hoyer(np.array([3.0, 4.0, 0.0, 0.0])) == pytest.approx(0.6)
    rows = hoyer(np.array([[1.0, 0, 0], [1, 1, 1], [0, 0, 0]]), axis=1)
    np.testing.assert_allclose(rows[:2], [1.0, 0.0], atol=1e-12)
    assert np.isnan(rows[2])
    with pytest.raises(RetinaCodecError, match="length >= 2"):
        hoyer(np.ones((3, 1)))


def test_near_zero_fraction():
    x = np.array([[10.0, 0.05, -0.2, 0.0], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(near_zero_fraction(x, rtol=0.01, axis=1), [0.5, 0.0])
    np.testing.assert_allclose(near_zero_fraction(x, rtol=0.03, axis=1), [0.75, 0.0])


def test_dimensions_for_variance_with_known_spectra():
    rng = np.random.default_rng(0)
    low_rank = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 20))
    assert dimensions_for_variance(low_rank, 0.999999) == 5
    # independent columns with variances 60, 30, 6, 4 (%): 95 % needs the first three
    white = rng.standard_normal((20000, 4))
    white = (white - white.mean(0)) / white.std(0)
    scaled = white * np.sqrt([60.0, 30.0, 6.0, 4.0])
    assert dimensions_for_variance(scaled, 0.95) == 3
    assert dimensions_for_variance(scaled, 0.85) == 2
    with pytest.raises(RetinaCodecError, match="fraction"):
        dimensions_for_variance(scaled, 1.5)


def test_mode_labels_find_planted_indicators():
    rng = np.random.default_rng(0)
    labels = rng.choice(["a", "b", "c"], size=500)
    loadings = np.column_stack(
        [
            (labels == "b") + 0.3 * rng.random(500),  # mode 0 tracks class b
            rng.random(500),  # mode 1 is unrelated
            np.zeros(500),  # mode 2 is dead
        ]
    )
    stats = mode_labels(
        xr.DataArray(loadings, dims=("sample", "mode"), coords={"kind": ("sample", labels)}), "kind", threshold=0.2
    )
    expected = np.corrcoef(loadings[:, 0], labels == "b")[0, 1]
    assert stats["correlation"].sel(mode=0, label="b") == pytest.approx(expected)
    assert stats["best_label"].values[0] == "b" and stats["max_correlation"].values[0] > 0.9
    assert abs(stats["max_correlation"].values[1]) < 0.2
    np.testing.assert_array_equal(stats["correlation"].sel(mode=2), 0.0)
    assert int(stats["n_modes_above"]) == 1
    with pytest.raises(RetinaCodecError, match="names no coord"):
        mode_labels(loadings, "kind")
    with pytest.raises(RetinaCodecError, match="one per sample"):
        mode_labels(loadings, labels[:10])


def test_sign_correlation_matches_numpy(contributions):
    ds = contributions(split=True)
    pos, neg = ds["contribution"].sel(sign="pos").values, ds["contribution"].sel(sign="neg").values
    neg[:, 0] = -2.0 * pos[:, 0]  # channel 0: inhibition rises with excitation
    ds["contribution"].loc[dict(sign="neg")] = neg
    r = channel_sign_correlation(ds)
    assert r.dims == ("channel",)
    assert r.sel(channel=0) == pytest.approx(1.0)
    for channel in range(1, ds.sizes["channel"]):
        assert r.sel(channel=channel) == pytest.approx(np.corrcoef(pos[:, channel], -neg[:, channel])[0, 1])
    by_layer = sign_correlation({"early": ds, "late": contributions(split=True, seed=5)})
    assert by_layer["correlation"].dims == ("layer", "quantile")
    assert by_layer["mean"].sel(layer="early") == pytest.approx(np.nanmean(r.values))
    one_sign = ds.copy(deep=True)
    one_sign["contribution"].loc[dict(sign="neg")] = 0.0  # every channel excitatory (Dale's law)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = sign_correlation(one_sign)
    assert np.isnan(quiet["correlation"].values).all() and np.isnan(quiet["mean"].values).all()
    with pytest.raises(RetinaCodecError, match="split-sign"):
        channel_sign_correlation(contributions(split=False))


def test_sparsity_and_dimensions_per_layer(contributions):
    early, late = contributions(split=True, seed=1), contributions(split=False, seed=2)
    result = sparsity({"early": early, "late": late}, rtol=0.01)
    assert result["hoyer"].dims == ("layer", "variable", "quantile")
    assert list(result["layer"].values) == ["early", "late"]
    net = np.abs(early["contribution"].sel(sign="pos")) - np.abs(early["contribution"].sel(sign="neg"))
    expected = np.nanmean(hoyer(net.values, axis=1))
    assert result["hoyer_mean"].sel(layer="early", variable="contribution") == pytest.approx(expected)
    activation = late["activation"].values
    assert result["near_zero_fraction"].sel(layer="late", variable="activation") == pytest.approx(
        near_zero_fraction(activation, 0.01, axis=1).mean()
    )
    dims = pca_dimensions(late)  # a single Dataset is one layer, named by its attrs
    assert list(dims["layer"].values) == ["conv1"]
    assert int(dims["n_dimensions"].sel(layer="conv1", variable="activation")) == dimensions_for_variance(activation)
    with pytest.raises(RetinaCodecError, match="mapping"):
        sparsity([early])


def test_mode_label_comparison_on_planted_cell_types(contributions):
    ds = contributions(split=False, n_time=96)
    on = (ds["cell_type"] == "ON").values
    # activation channel 0 fires for ON cells only: its modes should pick up the cell type
    activation = ds["activation"].values
    activation[:, 0] = 3.0 * on
    ds["activation"].values = activation
    result = mode_label_comparison(
        {"conv1": ds}, "cell_type", variables=["activation"], epochs=20, batch_size=32, device="cpu"
    )
    assert result["max_correlation"].dims == ("layer", "variable", "mode")
    assert float(result["best_correlation"].sel(layer="conv1", variable="activation")) > 0.8
    assert int(result["n_modes_above"].sel(layer="conv1", variable="activation")) >= 1
