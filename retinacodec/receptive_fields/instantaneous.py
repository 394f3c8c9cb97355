"""Instantaneous receptive fields (IRFs) of a retina model, whole and decomposed by mode.

The IRF of cell :math:`i` at time :math:`t` is the sensitivity of its rate to the stimulus window
ending at :math:`t`; a set of contribution modes splits it into the parts that flow through each
mode's channels of a hidden layer (:func:`irf`). :func:`rank1_summary` condenses an IRF into a
spatial profile and a temporal filter; :func:`irf_variability` measures how much the IRF's shape
changes over time; :func:`mode_shares` and :func:`modes_by_share` rank the modes by the share of the
IRF they carry.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from .._progress import progress_bar
from .._validation import check_int
from ..attribution.inputs import prepare_inputs
from ..attribution.routed import check_layer_channels, path_rule, routed_gradients
from ..device import evaluating, resolve_device
from ..errors import RetinaCodecError
from ..models.adapter import adapt
from ..models.registry import windows
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import (
    mode_loadings,
    modes_layer,
    selected_mode_positions,
    shares_tensor,
)
from ..targets import Cell, resolve_cells

IRF_UNITS = "Hz per unit contrast (per pixel per frame)"
"""Units of an IRF: firing rate per unit of the stimulus's own contrast at one pixel and frame."""
SPACE_TIME = ("lag", "y", "x")
"""Dims of one IRF."""


def _time_positions(window_times: np.ndarray, times, frame_rate_hz: float, history: int) -> np.ndarray:
    """Positions in ``window_times`` of the requested times (s), each within half a frame."""
    if times is None:
        return np.arange(len(window_times))
    try:
        wanted = np.atleast_1d(np.asarray(times, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise RetinaCodecError(f"times {times!r} are not numbers; expected times in seconds") from None
    if wanted.size == 0 or not np.isfinite(wanted).all():
        raise RetinaCodecError(f"times {times!r}; expected finite times in seconds")
    positions = np.abs(window_times[None, :] - wanted[:, None]).argmin(axis=1)
    off = np.abs(window_times[positions] - wanted) > 0.5 / frame_rate_hz
    if off.any():
        raise RetinaCodecError(
            f"time {wanted[off][0]:g} s is outside the stimulus frames with a full history of {history} "
            f"frames; expected times from {window_times[0]:g} to {window_times[-1]:g} s"
        )
    return positions


def irf(
    model: nn.Module,
    stimulus: xr.DataArray,
    cells: int | Sequence[int] | None = None,
    times: float | Sequence[float] | None = None,
    *,
    method: str = "gradient",
    n_steps: int = 20,
    quadrature_rule: str = "gausslegendre",
    layer: str | None = None,
    modes: SAE | xr.DataArray | np.ndarray | None = None,
    selected_modes: Sequence[int] | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    max_result_gb: float = 8.0,
    progress: bool = True,
) -> xr.DataArray | xr.Dataset:
    """Instantaneous receptive fields of a retina model's cells, optionally decomposed by mode.

    Parameters
    ----------
    model : torch.nn.Module
        A retina model (e.g. :func:`retinacodec.models.load`): input (N, history, y, x) stimulus
        windows normalised by its ``stimulus_mean`` and ``stimulus_std``, output (N, n_cells)
        rates in Hz; attrs ``history``, ``size``, ``frame_rate_hz``, ``name``. Put in eval mode
        for the call.
    stimulus : xarray.DataArray
        (time, y, x) contrast at the model's frame rate and frame size.
    cells : int or sequence of int, optional
        Cell indices (all cells by default).
    times : float or sequence of float, optional
        Times in s (each within half a frame of a stimulus frame that has ``history`` frames
        before it, itself included); every such frame by default.
    method : {"gradient", "ig"}
        ``"gradient"``: the gradient at the stimulus. ``"ig"``: the gradient averaged along the
        straight path from the zero-contrast (mean-luminance) stimulus, so that the IRF times the
        stimulus window sums to the rate minus the rate at zero contrast (see Notes).
    n_steps : int
        Quadrature nodes for ``"ig"``; also for the contributions behind an SAE's loadings when
        its modes do not record their own.
    quadrature_rule : str
        One of :data:`retinacodec.attribution.quadrature.METHODS`.
    layer : str, optional
        Hidden layer to decompose through (default: the layer the modes record).
    modes : Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray, optional
        Contribution (or activation) modes of ``layer`` (anything :meth:`Modes.coerce` takes):
        with an SAE, loadings at each (time, cell) come from that sample's contributions; a modes
        Dataset or a dictionary (mode, channel) or (mode, feature) has every mode loading 1 (see
        :func:`~retinacodec.modes.selection.channel_shares`).
    selected_modes : sequence of int, optional
        Positions of the modes to return (all by default); the others fall into the residual.
    batch_size : int
        Network evaluations (window x path node) per forward pass; the working memory holds
        about ``batch_size`` input windows' gradients per cell and per returned mode (plus one).
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    max_result_gb : float
        Refuse to start when the result would exceed this size (GB); ask for fewer times, cells or
        modes instead.
    progress : bool
        Show a progress bar over batches.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Without modes: ``irf`` (time, cell, lag, y, x), float32, in Hz per unit contrast (the
        original stimulus contrast, per pixel and frame); ``lag`` in s, 0 = the current frame,
        increasing into the past; coords time (s), cell, cell_type, y, x (px). With modes, a
        Dataset holding ``irf``, ``mode_irf`` (time, cell, mode, lag, y, x), ``residual`` (time,
        cell, lag, y, x) with ``mode_irf.sum("mode") + residual == irf``, ``explained`` (time,
        cell) :math:`1 - \\|r\\|^2 / \\|\\mathrm{IRF}\\|^2` and ``loadings`` (time, cell, mode); attr
        ``explained_overall`` pools the norms over all times and cells. Attrs record the package
        version, model, method, n_steps, quadrature rule, baseline, layer and stimulus.

    Raises
    ------
    RetinaCodecError
        For an unknown cell, a time outside the stimulus, a stimulus that does not fit the model,
        modes of another layer (their ``layer`` attr or channel count), an unknown method, or a
        result larger than ``max_result_gb``.

    Notes
    -----
    With :math:`u = (s - \\mu) / \\sigma` the model's normalised input and :math:`r_i(u)` the rate,

    .. math:: \\mathrm{IRF}_i(t, \\ell, y, x) = \\frac{1}{\\sigma}
              \\frac{\\partial r_i}{\\partial u(t - \\ell, y, x)} \\quad \\text{("gradient")},

    .. math:: \\mathrm{IRF}^{IG}_i = \\frac{1}{\\sigma}\\sum_j w_j \\nabla_u r_i\\big(u_0 +
              \\alpha_j (u - u_0)\\big) \\quad \\text{("ig")},

    with :math:`u_0` the zero-contrast window and :math:`(\\alpha_j, w_j)` the quadrature rule.
    ``"ig"`` returns the path-averaged gradient (same units as ``"gradient"``), not the
    attribution: the Integrated-Gradients attribution of pixel :math:`p` is
    :math:`\\mathrm{IRF}^{IG}_p\\, s_p` and, by completeness,
    :math:`\\sum_p \\mathrm{IRF}^{IG}_p s_p \\to r_i(s) - r_i(0)`.

    With modes, the part of mode :math:`m` is
    :math:`\\mathrm{IRF}^{(m)} = \\sum_c s_{mc} J_{r_i,h_c} J_{h_c,s}` (shares
    :math:`s_{mc}` of :func:`~retinacodec.modes.selection.channel_shares`, gradient routed through
    channel :math:`c` of the layer by :func:`~retinacodec.attribution.routed.routed_gradients`);
    the residual holds the channels no active mode uses, the modes not selected, and any path
    that bypasses the layer.
    """
    adapted = adapt(model)
    module = adapted.module
    alphas, node_weights = path_rule(method, n_steps, quadrature_rule)
    batch_size = check_int("batch_size", batch_size)
    modes = None if modes is None else Modes.coerce(modes)
    weights = None if modes is None else modes.channel_weights()
    if weights is not None:
        layer = modes_layer(weights, layer, adapted)
        selected = selected_mode_positions(weights, selected_modes)
    elif layer is not None or selected_modes is not None:
        raise RetinaCodecError("layer= or selected_modes= given without modes=; expected modes to decompose by")
    device = resolve_device(device)
    with evaluating(module, device) as dtype:
        inputs, window_times = windows(module, stimulus)
        positions = _time_positions(window_times, times, float(stimulus.attrs["frame_rate_hz"]), module.history)
        with torch.no_grad():
            if weights is None:
                first_output = module(inputs[:1].to(dtype))
            else:
                captured = adapted.capture(inputs[:1].to(dtype), layer)
                check_layer_channels(adapted, layer, captured.activation, weights.sizes["channel"])
                first_output = captured.output
        cell_list = resolve_cells(cells, module, first_output)
        targets = [Cell(c) for c in cell_list]
        reducers = [target.bind(module, first_output) for target in targets]
        n_modes = 0 if weights is None else len(selected)
        size = len(positions) * len(cell_list) * (n_modes + (2 if n_modes else 1)) * np.prod(inputs.shape[1:]) * 4
        if size > max_result_gb * 1e9:
            raise RetinaCodecError(
                f"the IRFs of {len(positions)} times x {len(cell_list)} cells x {n_modes} modes would take "
                f"{size / 1e9:.1f} GB, over max_result_gb={max_result_gb}; expected fewer times, cells or "
                "selected_modes (or a larger max_result_gb)"
            )
        snippet = stimulus.isel(time=slice(0, module.history))
        baseline = prepare_inputs(module, snippet, "mean", dtype, device).baseline
        scale = 1.0 / float(module.stimulus_std)
        shape = (len(positions), len(cell_list), *inputs.shape[1:])
        whole = np.empty(shape, dtype=np.float32)
        parts = None if weights is None else np.empty((*shape[:2], n_modes, *shape[2:]), dtype=np.float32)
        loadings_all = None if weights is None else np.ones((*shape[:2], n_modes), dtype=np.float32)
        per_chunk = max(1, batch_size // len(alphas))
        for start in progress_bar(range(0, len(positions), per_chunk), desc="IRF", unit="batch", progress=progress):
            chunk = slice(start, start + per_chunk)
            batch = inputs[torch.as_tensor(positions[chunk], device=inputs.device)].to(dtype)
            shares = None
            if weights is not None:
                loadings = None
                if modes.has_encoder:
                    loadings = mode_loadings(
                        adapted, layer, modes, batch, baseline, targets, quadrature_rule, n_steps, batch_size, device
                    )
                    loadings_all[chunk] = loadings[:, :, selected].transpose(1, 0, 2)
                shares = shares_tensor(weights.values, loadings, selected, (len(targets), len(batch)), dtype, device)
            total, routed = routed_gradients(
                adapted, batch, baseline, reducers, alphas, node_weights, batch_size, layer, shares
            )
            # input channel history - 1 is the current frame: flip so that lag 0 comes first
            whole[chunk] = (total.flip(2) * scale).transpose(0, 1).detach().cpu().numpy()
            if routed is not None:
                parts[chunk] = (routed.flip(3) * scale).transpose(0, 1).detach().cpu().numpy()
    result = _label(module, stimulus, window_times[positions], cell_list, whole)
    result.attrs.update(_provenance(module, stimulus, method, len(alphas), quadrature_rule))
    if weights is None:
        return result
    return _decomposed(
        result,
        parts,
        loadings_all,
        weights["mode"].values[selected],
        layer,
        "SAE loadings" if modes.has_encoder else "static dictionary (all modes loading 1)",
    )


def _decomposed(
    result: xr.DataArray, parts: np.ndarray, loadings: np.ndarray, modes: np.ndarray, layer: str, source: str
) -> xr.Dataset:
    """The Dataset of a decomposed IRF: whole, per mode, residual, explained fraction, loadings."""
    residual = result.values - parts.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        explained = 1.0 - _squared_norm(residual) / _squared_norm(result.values)
        overall = 1.0 - _squared_norm(residual).sum() / _squared_norm(result.values).sum()
    mode_irf = xr.DataArray(
        parts, dims=("time", "cell", "mode", *SPACE_TIME), coords={**result.coords, "mode": modes}, attrs=result.attrs
    )
    return xr.Dataset(
        {
            "irf": result,
            "mode_irf": mode_irf,
            "residual": result.copy(data=residual),
            "explained": (
                ("time", "cell"),
                explained.astype(np.float32),
                {"long_name": "1 - |residual|^2 / |irf|^2 per time and cell (NaN for a zero IRF)"},
            ),
            "loadings": (
                ("time", "cell", "mode"),
                loadings,
                {"long_name": "SAE loadings of each sample (1 for a static dictionary)"},
            ),
        },
        attrs={**result.attrs, "layer": str(layer), "modes": source, "explained_overall": float(overall)},
    )


def _squared_norm(values: np.ndarray) -> np.ndarray:
    """Sum of squares over the last three axes (lag, y, x), in float64."""
    return np.square(values, dtype=np.float64).sum(axis=(-3, -2, -1))


def _label(
    module: nn.Module, stimulus: xr.DataArray, times: np.ndarray, cells: list, values: np.ndarray
) -> xr.DataArray:
    """Label (time, cell, lag, y, x) IRF values with times (s), cells, lags (s) and pixels."""
    history = values.shape[2]
    rate = float(stimulus.attrs["frame_rate_hz"])
    types = getattr(module, "cell_type", None)
    coords = {
        "time": times,
        "cell": np.asarray(cells),
        "lag": np.arange(history) / rate,
        "y": stimulus["y"].values,
        "x": stimulus["x"].values,
    }
    da = xr.DataArray(values, dims=("time", "cell", *SPACE_TIME), coords=coords, name="irf", attrs={"units": IRF_UNITS})
    if types is not None:
        da = da.assign_coords(cell_type=("cell", [str(types[c]) for c in cells]))
    da["time"].attrs["units"] = "s"
    da["lag"].attrs.update(units="s", long_name="time before the current frame")
    return da


def _provenance(module: nn.Module, stimulus: xr.DataArray, method: str, n_steps: int, rule: str) -> dict:
    """Attrs of an IRF: units, package version, model, method, quadrature, baseline, stimulus."""
    return {
        "units": IRF_UNITS,
        "retinacodec_version": __version__,
        "model": str(getattr(module, "name", type(module).__name__)),
        "method": method,
        "n_steps": int(n_steps),
        "quadrature": rule if method == "ig" else "none",
        "baseline": "zero contrast",
        "stimulus": str(stimulus.attrs.get("kind", "unknown")),
        "frame_rate_hz": float(stimulus.attrs["frame_rate_hz"]),
        **({"seed": int(stimulus.attrs["seed"])} if "seed" in stimulus.attrs else {}),
    }


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
        IRFs with dims (..., lag, y, x), e.g. from :func:`irf`; for a Dataset, ``variable``.
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
        A decomposed IRF (:func:`irf` with modes): ``irf`` and ``mode_irf``.

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
        share = inner / _squared_norm(whole)[..., None]
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
        A decomposed IRF (:func:`irf` with modes, ideally all live modes).
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
    norms = _squared_norm(decomposed["irf"].values)  # (time, cell)
    pooled = (share.fillna(0.0) * norms[..., None]).sum("time") / norms.sum(axis=0)[:, None]
    ranks = np.full((share.sizes["cell"], max_modes), -1)
    cumulative = np.full(ranks.shape, np.nan)
    for c, row in enumerate(pooled.values):
        order = np.argsort(-row, kind="stable")
        total = np.cumsum(row[order])
        count = min(max_modes, int(np.searchsorted(total, min_share - 1e-12) + 1), len(order))
        ranks[c, :count], cumulative[c, :count] = decomposed["mode"].values[order[:count]], total[:count]
    kept = [m for m in decomposed["mode"].values if m in set(ranks[ranks >= 0].tolist())]
    result = _decomposed(
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
