"""Summaries of instantaneous receptive fields (the results of :func:`retinacodec.irf`).

:func:`rank1_summary` condenses an IRF into a spatial profile and a temporal filter;
:func:`irf_variability` measures how much the IRF's shape changes over time; :func:`mode_shares`
and :func:`modes_by_share` rank the modes by the share of the IRF they carry.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import RetinaCodecError
from .instantaneous import SPACE_TIME, decomposed_irf, squared_norm


def _as_irf(irf: xr.DataArray | xr.Dataset, variable: str = "irf") -> xr.DataArray:
    if isinstance(irf, xr.Dataset):
        if variable not in irf.data_vars:
            raise RetinaCodecError(f"the Dataset has no variable {variable!r}; expected the result of irf()")
        irf = irf[variable]
    if not isinstance(irf, xr.DataArray) or not set(SPACE_TIME) <= set(irf.dims):
        dims = getattr(irf, "dims", type(irf).__name__)
        raise RetinaCodecError(f"IRF has dims {dims}; expected a DataArray with dims (..., lag, y, x) from irf()")
    return irf


def rank1_summary(irf: xr.DataArray | xr.Dataset, variable: str = "irf") -> xr.Dataset:
    """Best rank-1 space-time approximation of each IRF, by singular value decomposition.

    Parameters
    ----------
    irf : xarray.DataArray or xarray.Dataset
        IRFs with dims (..., lag, y, x), e.g. from :func:`~retinacodec.receptive_fields.instantaneous.irf`;
        for a Dataset, ``variable``.
    variable : str
        Variable of a Dataset to summarise (``"irf"``, ``"mode_irf"`` or ``"residual"``).

    Returns
    -------
    xarray.Dataset
        ``spatial`` (..., y, x) and ``temporal`` (..., lag), each of unit Euclidean norm;
        ``singular_value`` (...) in the IRF's units; ``variance_fraction`` (...), the share of
        the IRF's squared norm the rank-1 term holds (NaN for an all-zero IRF).

    Notes
    -----
    With the IRF as a matrix :math:`K` (lag x pixel) and :math:`K = U S V^T`,
    :math:`K \\approx \\sigma_1 u_1 v_1^T`: ``temporal`` :math:`= u_1`, ``spatial`` :math:`= v_1`,
    ``variance_fraction`` :math:`= \\sigma_1^2 / \\sum_k \\sigma_k^2`. The sign is fixed so that the
    spatial profile's largest-magnitude pixel is positive; the temporal filter then carries the
    polarity (positive at short lags for an ON cell).
    """
    da = _as_irf(irf, variable)
    lead = [d for d in da.dims if d not in SPACE_TIME]
    da = da.transpose(*lead, *SPACE_TIME)
    n_lag, n_y, n_x = (da.sizes[d] for d in SPACE_TIME)
    matrices = da.values.reshape(-1, n_lag, n_y * n_x).astype(np.float64)
    u, s, vt = np.linalg.svd(matrices, full_matrices=False)
    temporal, spatial, first = u[:, :, 0], vt[:, 0, :], s[:, 0]
    peak = np.take_along_axis(spatial, np.abs(spatial).argmax(axis=1)[:, None], axis=1)
    sign = np.where(peak >= 0, 1.0, -1.0)
    temporal, spatial = temporal * sign, spatial * sign
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.square(first) / np.square(s).sum(axis=1)
    shape = [da.sizes[d] for d in lead]
    lead_coords = {k: v for k, v in da.coords.items() if set(v.dims) <= set(lead)}
    return xr.Dataset(
        {
            "spatial": ((*lead, "y", "x"), spatial.reshape(*shape, n_y, n_x)),
            "temporal": ((*lead, "lag"), temporal.reshape(*shape, n_lag)),
            "singular_value": (lead, first.reshape(shape), {"units": da.attrs.get("units", "")}),
            "variance_fraction": (lead, fraction.reshape(shape)),
        },
        coords={**lead_coords, "lag": da["lag"], "y": da["y"], "x": da["x"]},
        attrs={**da.attrs, "summary": "rank-1 SVD: irf ~ singular_value * temporal (lag) x spatial (y, x)"},
    )


def irf_variability(irf: xr.DataArray | xr.Dataset, variable: str = "irf") -> xr.DataArray:
    """How much the shape of the IRF changes over time: 1 - mean correlation between time points.

    Parameters
    ----------
    irf : xarray.DataArray or xarray.Dataset
        IRFs with dims (time, ..., lag, y, x), at least two time points.
    variable : str
        Variable of a Dataset to use.

    Returns
    -------
    xarray.DataArray
        ``irf_variability`` over the remaining dims (cell, and mode for per-mode IRFs):
        0 when every time point's IRF is a positive multiple of the others (a gain change only),
        up to 1 for unrelated shapes and 2 for sign-inverted ones; NaN when fewer than two time
        points have a non-constant IRF.

    Notes
    -----
    With :math:`\\rho_{tt'}` the Pearson correlation between the IRFs at times :math:`t` and
    :math:`t'` over all (lag, y, x) entries, the variability is
    :math:`1 - \\operatorname{mean}_{t \\ne t'} \\rho_{tt'}`. Correlation ignores gain, so a
    linear-nonlinear model, whose IRF is the fixed filter scaled by the nonlinearity's slope,
    scores 0.
    """
    da = _as_irf(irf, variable)
    if "time" not in da.dims or da.sizes["time"] < 2:
        raise RetinaCodecError(f"IRF has dims {dict(da.sizes)}; expected at least 2 time points")
    lead = [d for d in da.dims if d not in ("time", *SPACE_TIME)]
    da = da.transpose(*lead, "time", *SPACE_TIME)
    n_time = da.sizes["time"]
    flat = da.values.reshape(-1, n_time, int(np.prod([da.sizes[d] for d in SPACE_TIME]))).astype(np.float64)
    centred = flat - flat.mean(axis=2, keepdims=True)
    norm = np.linalg.norm(centred, axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm[..., None] > 0, centred / norm[..., None], np.nan)
    correlation = np.einsum("ntp,nsp->nts", unit, unit)
    off_diagonal = correlation[:, ~np.eye(n_time, dtype=bool)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, as documented
        mean = np.nanmean(off_diagonal, axis=1)
    lead_coords = {k: v for k, v in da.coords.items() if v.dims and set(v.dims) <= set(lead)}
    return xr.DataArray(
        (1.0 - mean).reshape([da.sizes[d] for d in lead]),
        dims=lead,
        coords=lead_coords,
        name="irf_variability",
        attrs={
            "long_name": "1 - mean Pearson correlation between IRFs at different times",
            "n_times": int(n_time),
            "retinacodec_version": __version__,
        },
    )


def mode_shares(decomposed: xr.Dataset) -> xr.DataArray:
    r"""Share of each IRF's squared norm that each mode carries.

    Parameters
    ----------
    decomposed : xarray.Dataset
        A decomposed IRF (:func:`~retinacodec.receptive_fields.instantaneous.irf` with modes): ``irf`` and ``mode_irf``.

    Returns
    -------
    xarray.DataArray
        (time, cell, mode) :math:`\langle \mathrm{IRF}^{(m)}, \mathrm{IRF} \rangle /
        \|\mathrm{IRF}\|^2` (NaN for a zero IRF).

    Notes
    -----
    The projection shares are additive: with the residual's share they sum to 1 for every IRF,
    since the parts sum to the IRF. A mode whose part points against the IRF has a negative share.
    """
    if not isinstance(decomposed, xr.Dataset) or not {"irf", "mode_irf"} <= set(decomposed.data_vars):
        raise RetinaCodecError("expected a decomposed IRF (irf() with modes): a Dataset with irf and mode_irf")
    whole = decomposed["irf"].values.astype(np.float64)
    parts = decomposed["mode_irf"].transpose("time", "cell", "mode", *SPACE_TIME).values
    inner = np.einsum("tclyx,tcmlyx->tcm", whole, parts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = inner / squared_norm(whole)[..., None]
    return xr.DataArray(
        share,
        dims=("time", "cell", "mode"),
        coords={"time": decomposed["time"], "cell": decomposed["cell"], "mode": decomposed["mode"]},
        name="share",
        attrs={"long_name": "<mode part, IRF> / |IRF|^2"},
    )


def modes_by_share(decomposed: xr.Dataset, min_share: float = 0.5, max_modes: int = 6) -> xr.Dataset:
    r"""Keep the modes that carry each cell's IRF, ranked by their share, until they reach ``min_share``.

    Parameters
    ----------
    decomposed : xarray.Dataset
        A decomposed IRF (:func:`~retinacodec.receptive_fields.instantaneous.irf` with modes, ideally all live modes).
    min_share : float
        Cumulative share (pooled over the cell's times) at which a cell's list stops, in (0, 1].
    max_modes : int
        Most modes kept per cell.

    Returns
    -------
    xarray.Dataset
        ``decomposed`` restricted to the union of the cells' modes, with ``residual`` and
        ``explained`` recomputed (the dropped modes join the residual); ``share`` (time, cell,
        mode) of :func:`mode_shares`; ``cell_share`` (cell, mode), pooled over times
        :math:`\sum_t \langle \mathrm{IRF}^{(m)}_t, \mathrm{IRF}_t\rangle / \sum_t
        \|\mathrm{IRF}_t\|^2`; ``cell_modes`` (cell, rank) the kept modes of each cell by share
        (-1 past its list) and ``cumulative_share`` (cell, rank); ``shown_share`` (cell), the
        cumulative share of a cell's own list. Attrs ``explained_overall`` (of all kept modes
        together) and ``shown_share_overall`` (the cells' lists, norms pooled over cells).
    """
    if not 0 < min_share <= 1 or isinstance(max_modes, bool) or not isinstance(max_modes, int) or max_modes < 1:
        raise RetinaCodecError(
            f"min_share {min_share!r} and max_modes {max_modes!r}; expected a share in (0, 1] and a positive integer"
        )
    share = mode_shares(decomposed)
    norms = squared_norm(decomposed["irf"].values)  # (time, cell)
    pooled = (share.fillna(0.0) * norms[..., None]).sum("time") / norms.sum(axis=0)[:, None]
    ranks = np.full((share.sizes["cell"], max_modes), -1)
    cumulative = np.full(ranks.shape, np.nan)
    for c, row in enumerate(pooled.values):
        order = np.argsort(-row, kind="stable")
        total = np.cumsum(row[order])
        count = min(max_modes, int(np.searchsorted(total, min_share - 1e-12) + 1), len(order))
        ranks[c, :count], cumulative[c, :count] = decomposed["mode"].values[order[:count]], total[:count]
    kept = [m for m in decomposed["mode"].values if m in set(ranks[ranks >= 0].tolist())]
    result = decomposed_irf(
        decomposed["irf"],
        decomposed["mode_irf"].sel(mode=kept).transpose("time", "cell", "mode", *SPACE_TIME).values,
        decomposed["loadings"].sel(mode=kept).values,
        np.asarray(kept),
        decomposed.attrs.get("layer", ""),
        decomposed.attrs.get("modes", ""),
    )
    shown = np.nanmax(cumulative, axis=1)
    pooled_shown = float((shown * norms.sum(axis=0)).sum() / norms.sum())
    return result.assign(
        share=share.sel(mode=kept),
        cell_share=pooled.sel(mode=kept),
        cell_modes=(("cell", "rank"), ranks),
        cumulative_share=(("cell", "rank"), cumulative),
        shown_share=("cell", shown),
    ).assign_attrs(shown_share_overall=pooled_shown, min_share=float(min_share))
