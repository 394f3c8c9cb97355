"""Summaries of IRFs against hand-made ones: the rank-1 approximation, the variability over time,
and the modes' shares of a decomposed IRF."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.receptive_fields.instantaneous import decomposed_irf
from retinacodec.receptive_fields.summaries import irf_variability, mode_shares, modes_by_share, rank1_summary

HISTORY = 40


def test_rank1_summary_recovers_a_separable_irf():
    rng = np.random.default_rng(0)
    temporal, spatial = rng.standard_normal(HISTORY), rng.standard_normal((5, 5))
    temporal /= np.linalg.norm(temporal)
    spatial /= np.linalg.norm(spatial)
    values = np.stack([3.0 * temporal[:, None, None] * spatial, -0.5 * temporal[:, None, None] * spatial])
    da = xr.DataArray(values, dims=("time", "lag", "y", "x"), coords={"lag": np.arange(HISTORY) / 100})
    summary = rank1_summary(da)
    sign = np.sign(spatial.flat[np.abs(spatial).argmax()])
    np.testing.assert_allclose(summary["singular_value"], [3.0, 0.5], rtol=1e-10)
    np.testing.assert_allclose(summary["variance_fraction"], 1.0, rtol=1e-10)
    np.testing.assert_allclose(summary["spatial"].values[0], sign * spatial, atol=1e-10)
    np.testing.assert_allclose(summary["temporal"].values[0], sign * temporal, atol=1e-10)
    np.testing.assert_allclose(summary["temporal"].values[1], -sign * temporal, atol=1e-10)  # polarity in time


def test_variability_of_hand_made_irfs():
    base = np.random.default_rng(1).standard_normal((HISTORY, 3, 3))
    da = xr.DataArray(np.stack([[base, 3 * base], [base, -base]], axis=1), dims=("time", "cell", "lag", "y", "x"))
    np.testing.assert_allclose(irf_variability(da), [0.0, 2.0], atol=1e-12)
    with pytest.raises(RetinaCodecError, match="at least 2 time points"):
        irf_variability(da.isel(time=[0]))


def _hand_decomposed():
    """Two cells, two times; IRF = 3 e0 + 1 e1 + 0.5 e2 (orthogonal unit parts) + residual e3 for cell
    0, and parts weighted the other way round for cell 1."""
    basis = np.eye(4).reshape(4, 1, 2, 2)  # four orthogonal (lag, y, x) patterns
    weights = np.array([[3.0, 1.0, 0.5], [0.5, 1.0, 3.0]])
    parts = np.einsum("cm,mlyx->cmlyx", weights, basis[:3])[None].repeat(2, axis=0).astype(np.float32)
    whole = parts.sum(axis=2) + basis[3]
    irf = xr.DataArray(
        whole,
        dims=("time", "cell", "lag", "y", "x"),
        coords={
            "time": [0.1, 0.2],
            "cell": [4, 7],
            "cell_type": ("cell", ["on", "off"]),
            "lag": [0.0],
            "y": [0, 1],
            "x": [0, 1],
        },
    )
    loadings = np.ones((2, 2, 3), np.float32)
    return decomposed_irf(irf, parts, loadings, np.array([10, 11, 12]), "amacrine", "hand"), weights


def test_mode_shares_are_projections_that_add_up_with_the_residual_to_one():
    decomposed, weights = _hand_decomposed()
    share = mode_shares(decomposed)
    norm = (weights**2).sum(axis=1) + 1.0  # orthogonal parts: |IRF|^2 = sum of squares + residual's 1
    np.testing.assert_allclose(share.isel(time=0).values, weights**2 / norm[:, None], rtol=1e-6)
    np.testing.assert_allclose(share.sum("mode").values + 1.0 / norm, 1.0, rtol=1e-6)


def test_modes_by_share_keeps_each_cells_modes_until_the_share_is_reached():
    decomposed, _ = _hand_decomposed()
    kept = modes_by_share(decomposed, min_share=0.8, max_modes=3)
    # cell 4: 9/11.25 = 0.80 from mode 10 alone; cell 7: mode 12 alone, the same
    assert kept["cell_modes"].sel(cell=4).values.tolist() == [10, -1, -1]
    assert kept["cell_modes"].sel(cell=7).values.tolist() == [12, -1, -1]
    assert list(kept["mode"].values) == [10, 12]
    np.testing.assert_allclose(kept["shown_share"].values, 9 / 11.25, rtol=1e-6)
    np.testing.assert_allclose(
        kept["residual"].values, decomposed["irf"].values - kept["mode_irf"].sum("mode").values, atol=1e-6
    )
    more = modes_by_share(decomposed, min_share=0.85, max_modes=3)
    assert more["cell_modes"].sel(cell=4).values.tolist() == [10, 11, -1]
    assert float(more["cumulative_share"].sel(cell=4, rank=1)) == pytest.approx(10 / 11.25, rel=1e-6)
