"""Metrics against hand computations: scipy's Pearson r and a worked FEVe example."""

import numpy as np
import pytest
import xarray as xr
from scipy.stats import pearsonr

from retinacodec.errors import RetinaCodecError
from retinacodec.metrics import feve, pearson_r


def _responses(values, start=0):
    n_time, n_cells = values.shape
    return xr.DataArray(
        values,
        dims=("time", "cell"),
        coords={
            "time": (start + np.arange(n_time)) / 100.0,
            "cell": np.arange(n_cells),
            "cell_type": ("cell", ["on", "off", "on"][:n_cells]),
        },
    )


def test_pearson_r_matches_scipy_on_shared_times():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(200, 3))
    pred = true[39:] + rng.normal(size=(161, 3))  # starts 39 frames later, as a CNN prediction does
    r = pearson_r(_responses(pred, start=39), _responses(true))
    assert r.dims == ("cell",) and list(r["cell_type"].values) == ["on", "off", "on"]
    expected = [pearsonr(pred[:, c], true[39:, c])[0] for c in range(3)]
    np.testing.assert_allclose(r.values, expected, rtol=1e-12)


def test_pearson_r_is_nan_for_a_constant_prediction():
    true = np.arange(10.0)[:, None] * [1.0, 2.0]
    pred = np.column_stack([np.full(10, 3.0), np.arange(10.0) ** 2])
    r = pearson_r(_responses(pred), _responses(true))
    assert np.isnan(r.values[0]) and r.values[1] == pytest.approx(pearsonr(pred[:, 1], true[:, 1])[0])


def _trials(values):
    values = np.asarray(values, dtype=float)
    coords = {"time": np.arange(values.shape[1]) / 100.0, "cell": np.arange(values.shape[2])}
    return xr.DataArray(values, dims=("trial", "time", "cell"), coords=coords)


def test_feve_worked_example():
    # two trials [0, 2, 4] and [2, 4, 6], prediction [1, 3, 5]:
    # MSE = 1; noise variance per time (ddof 1) = 2; total variance of {0,2,4,2,4,6} (ddof 1) = 22/5
    # FEVe = 1 - (1 - 2) / (4.4 - 2) = 1 + 1/2.4
    trials = _trials([[[0.0], [2.0], [4.0]], [[2.0], [4.0], [6.0]]])
    pred = _responses(np.array([[1.0], [3.0], [5.0]]))
    assert float(feve(pred, trials)[0]) == pytest.approx(1 + 1 / 2.4, rel=1e-12)


def test_feve_of_signal_plus_noise_approaches_its_analytic_value():
    rng = np.random.default_rng(1)
    signal = rng.normal(0.0, 2.0, size=(4000, 1))  # Var[s] = 4
    trials = signal[None] + rng.normal(0.0, 1.0, size=(8, 4000, 1))  # noise variance 1
    perfect = feve(_responses(signal), _trials(trials))
    offset = feve(_responses(signal + rng.normal(0.0, 1.0, size=signal.shape)), _trials(trials))
    assert float(perfect[0]) == pytest.approx(1.0, abs=0.03)
    assert float(offset[0]) == pytest.approx(1 - 1 / 4, abs=0.03)  # 1 - Var[error] / Var[s]


@pytest.mark.parametrize(
    "pred, true",
    [
        (np.zeros((5, 2)), xr.DataArray(np.zeros((5, 2)), dims=("t", "cell"))),
        (np.zeros((5, 2)), _responses(np.zeros((5, 2)))),
        (_responses(np.full((5, 2), np.nan)), _responses(np.zeros((5, 2)))),
        (_responses(np.zeros((1, 2))), _responses(np.zeros((1, 2)))),
    ],
)
def test_pearson_r_bad_inputs_raise(pred, true):
    with pytest.raises(RetinaCodecError, match="expected"):
        pearson_r(pred, true)


def test_feve_needs_two_trials():
    with pytest.raises(RetinaCodecError, match="at least 2"):
        feve(_responses(np.zeros((4, 1))), _trials(np.ones((1, 4, 1))))


def test_column_correlation_matches_numpy_and_says_what_a_constant_column_gives():
    from retinacodec.metrics import column_correlation

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    expected = [np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(4)]
    np.testing.assert_allclose(column_correlation(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(column_correlation(a, b[:, :1]), [np.corrcoef(a[:, k], b[:, 0])[0, 1] for k in range(4)])
    a[:, 2] = 1.0
    assert np.isnan(column_correlation(a, b)[2])
    assert column_correlation(a, b, constant=0.0)[2] == 0.0
    assert column_correlation(a, b, constant=-np.inf)[2] == -np.inf
    assert column_correlation(b[:, :1], 3 * b[:, :1] - 2)[0] == 1.0


def test_correlation_matrix_is_every_pair_of_columns():
    from retinacodec.metrics import column_correlation, correlation_matrix

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(60, 2))
    b[:, 1] = 7.0
    r = correlation_matrix(a, b, constant=0.0)
    assert r.shape == (3, 2)
    np.testing.assert_allclose(r[:, 0], column_correlation(a, b[:, :1]), rtol=1e-12)
    np.testing.assert_array_equal(r[:, 1], 0.0)
    assert np.isnan(correlation_matrix(a, b)[:, 1]).all()
