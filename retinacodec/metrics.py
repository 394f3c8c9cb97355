"""How well predicted firing rates match responses: Pearson correlation and FEVe, per cell."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import RetinaCodecError


def _check_responses(name: str, data: xr.DataArray, dims: tuple[str, ...]) -> xr.DataArray:
    if not isinstance(data, xr.DataArray):
        raise RetinaCodecError(f"{name} is a {type(data).__name__}; expected an xarray.DataArray {dims}")
    if set(data.dims) != set(dims):
        raise RetinaCodecError(f"{name} has dims {data.dims}; expected {dims}")
    values = np.asarray(data.values)
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        raise RetinaCodecError(f"{name} holds non-numeric, NaN or infinite values; expected finite numbers")
    return data.transpose(*dims)


def _aligned(pred: xr.DataArray, true: xr.DataArray, true_dims: tuple[str, ...]) -> tuple[xr.DataArray, xr.DataArray]:
    """Both restricted to their common time points and cells (checked: at least 2 time points)."""
    pred = _check_responses("pred", pred, ("time", "cell"))
    true = _check_responses("true", true, true_dims)
    try:
        pred, true = xr.align(pred, true, join="inner")
    except ValueError as exc:
        raise RetinaCodecError(
            f"cannot align pred {dict(pred.sizes)} with true {dict(true.sizes)} ({exc}); expected "
            f"equal lengths along time and cell, or coordinates to align them on"
        ) from None
    if pred.sizes["time"] < 2 or pred.sizes["cell"] < 1:
        raise RetinaCodecError(
            f"pred and true share {pred.sizes['time']} time points and {pred.sizes['cell']} cells; "
            f"expected at least 2 common time points and 1 common cell"
        )
    return pred, true


def _aligned_trials(pred: xr.DataArray, trials: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """``pred`` (time, cell) and repeated ``trials`` (trial, time, cell) on their common time points
    and cells, checked to hold at least 2 trials."""
    pred, trials = _aligned(pred, trials, ("trial", "time", "cell"))
    if trials.sizes["trial"] < 2:
        raise RetinaCodecError(f"trials has {trials.sizes['trial']} trial; expected at least 2 repeats")
    return pred, trials


def _per_cell(values: np.ndarray, template: xr.DataArray, name: str, **attrs) -> xr.DataArray:
    """A (cell,) result carrying ``template``'s cell coords (cell, cell_type, y, x, ...)."""
    coords = {key: coord for key, coord in template.coords.items() if coord.dims == ("cell",)}
    return xr.DataArray(values, dims=("cell",), coords=coords, name=name, attrs=attrs)


def column_correlation(a: np.ndarray, b: np.ndarray, *, constant: float = np.nan) -> np.ndarray:
    """Pearson correlation of matching columns of two arrays, over their first axis.

    The package's one definition of a column-wise correlation: rates against rates per cell,
    mode loadings against labels, channel activity against pathway activity.

    Parameters
    ----------
    a, b : numpy.ndarray
        Shape (n, ...) each; ``b`` broadcasts against ``a`` (a (n, 1) column against (n, k)
        columns gives k correlations).
    constant : float
        The value returned for a column pair in which either column is constant (zero variance):
        NaN by default (undefined), or e.g. 0 where "no relation" is the meaning needed.

    Returns
    -------
    numpy.ndarray
        The correlations, shape of the broadcast trailing axes, in [-1, 1] (``constant`` where
        undefined).

    Notes
    -----
    .. math:: r = \\frac{\\sum_i (a_i - \\bar a)(b_i - \\bar b)}
              {\\sqrt{\\sum_i (a_i - \\bar a)^2 \\sum_i (b_i - \\bar b)^2}}
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    numerator = (a * b).sum(axis=0)
    defined = denominator > 0
    r = np.clip(numerator / np.where(defined, denominator, 1.0), -1.0, 1.0)  # clip: rounding
    return np.where(defined, r, constant)


def standardised(columns: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit standard deviation over the first axis; a constant
    column becomes zeros.

    Parameters
    ----------
    columns : numpy.ndarray
        (n, k).

    Returns
    -------
    numpy.ndarray
        float64 (n, k) z-scores.
    """
    centred = np.asarray(columns, dtype=float)
    centred = centred - centred.mean(axis=0)
    spread = centred.std(axis=0)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


def correlation_matrix(a: np.ndarray, b: np.ndarray, *, constant: float = np.nan) -> np.ndarray:
    """Pearson correlation of every column of ``a`` with every column of ``b``.

    The all-pairs form of :func:`column_correlation` (mode loadings against class indicators,
    channel-set activity against pathway activity).

    Parameters
    ----------
    a, b : numpy.ndarray
        (n, p) and (n, q).
    constant : float
        The value for a pair in which either column is constant: NaN by default, or e.g. 0.

    Returns
    -------
    numpy.ndarray
        (p, q) correlations in [-1, 1] (``constant`` where undefined).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    r = np.clip(standardised(a).T @ standardised(b) / len(a), -1.0, 1.0)
    defined = (a.std(axis=0) > 0)[:, None] & (b.std(axis=0) > 0)[None, :]
    return np.where(defined, r, constant)


def pearson_r(pred: xr.DataArray, true: xr.DataArray) -> xr.DataArray:
    """Pearson correlation between predicted and true responses over time, per cell.

    Parameters
    ----------
    pred, true : xarray.DataArray
        Responses with dims (time, cell), e.g. rates in Hz. They are aligned on their common
        ``time`` and ``cell`` coordinates (an inner join), so a prediction that starts later
        than the responses (a CNN needs a full history) is compared on the shared frames.

    Returns
    -------
    xarray.DataArray
        ``pearson_r`` with dims (cell,), the cell coords of ``pred``; NaN for a cell whose
        prediction or response is constant.

    Raises
    ------
    RetinaCodecError
        For non-DataArrays, wrong dims, non-finite values or fewer than 2 shared time points.

    Notes
    -----
    .. math:: r_c = \\frac{\\sum_t (p_{tc} - \\bar p_c)(y_{tc} - \\bar y_c)}
              {\\sqrt{\\sum_t (p_{tc} - \\bar p_c)^2 \\sum_t (y_{tc} - \\bar y_c)^2}}
    """
    pred, true = _aligned(pred, true, ("time", "cell"))
    r = column_correlation(pred.values, true.values)
    return _per_cell(r, pred, "pearson_r", n_time=int(pred.sizes["time"]))


def feve(pred: xr.DataArray, trials: xr.DataArray) -> xr.DataArray:
    """Fraction of explainable variance explained (FEVe) of repeated trials, per cell.

    Parameters
    ----------
    pred : xarray.DataArray
        Predicted responses, dims (time, cell).
    trials : xarray.DataArray
        Measured responses to repeats of the same stimulus, dims (trial, time, cell), at least 2
        trials; aligned with ``pred`` on common ``time`` and ``cell`` coordinates.

    Returns
    -------
    xarray.DataArray
        ``feve`` with dims (cell,): 1 for a prediction as good as the trial-averaged truth allows,
        0 for one no better than the mean, negative for worse; NaN where the responses hold no
        explainable variance (total variance not above the noise variance).

    Raises
    ------
    RetinaCodecError
        For wrong dims, non-finite values, fewer than 2 trials or 2 shared time points.

    Notes
    -----
    Following Cadena et al. (2019, PLoS Comput Biol 15: e1006897), with :math:`y_{kt}` the
    response on trial :math:`k = 1..K` at time :math:`t = 1..T` and :math:`\\hat y_t` the
    prediction,

    .. math::
        \\mathrm{FEV_e} = 1 - \\frac{\\frac{1}{KT}\\sum_{k,t}(y_{kt} - \\hat y_t)^2 - \\sigma^2_\\varepsilon}
                                   {\\operatorname{Var}[y] - \\sigma^2_\\varepsilon},
        \\qquad
        \\sigma^2_\\varepsilon = \\frac{1}{T}\\sum_t \\operatorname{Var}_k[y_{kt}],

    where :math:`\\operatorname{Var}_k` is the unbiased variance over trials (ddof = 1) and
    :math:`\\operatorname{Var}[y]` the unbiased variance over all :math:`KT` responses. The
    numerator is the prediction's error beyond trial-to-trial noise, the denominator the
    variance a perfect model could explain (the same measure is used by Maheswaranathan et al.
    2023 for retina CNNs).
    """
    pred, trials = _aligned_trials(pred, trials)
    y = np.asarray(trials.values, dtype=float)
    p = np.asarray(pred.values, dtype=float)
    n_trials, n_time, n_cells = y.shape
    error = ((y - p[None]) ** 2).mean(axis=(0, 1))
    noise = y.var(axis=0, ddof=1).mean(axis=0)
    total = y.reshape(n_trials * n_time, n_cells).var(axis=0, ddof=1)
    explainable = total - noise
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(explainable > 0, 1.0 - (error - noise) / explainable, np.nan)
    return _per_cell(value, pred, "feve", n_trials=int(n_trials), n_time=int(n_time))


def trial_average_r(pred: xr.DataArray, trials: xr.DataArray) -> xr.DataArray:
    """Pearson r of a prediction with the trial-averaged response to repeats, per cell.

    Parameters
    ----------
    pred : xarray.DataArray
        Predicted responses, dims (time, cell).
    trials : xarray.DataArray
        Measured responses to repeats of one stimulus, dims (trial, time, cell), at least 2
        trials, aligned with ``pred`` on common ``time`` and ``cell`` coordinates.

    Returns
    -------
    xarray.DataArray
        ``pearson_r`` (cell,) with ``pred``'s cell coords and attr ``n_trials``.

    Raises
    ------
    RetinaCodecError
        For wrong dims, non-finite values, fewer than 2 trials or 2 shared time points.

    Notes
    -----
    :func:`pearson_r` of ``pred`` and :math:`\\bar y_t = \\frac1K \\sum_k y_{kt}`; averaging
    removes most trial-to-trial noise, so unlike the correlation with single trials this can
    approach 1 (McIntosh et al. 2016 report it for retina CNNs).
    """
    _, trials = _aligned_trials(pred, trials)
    return pearson_r(pred, trials.mean("trial")).assign_attrs(n_trials=int(trials.sizes["trial"]))
