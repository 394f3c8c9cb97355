"""Instantaneous receptive fields (IRFs) of a retina model, whole and decomposed by mode.

The IRF of cell :math:`i` at time :math:`t` is the sensitivity of its rate to the stimulus window
ending at :math:`t`; a set of contribution modes splits it into the parts that flow through each
mode's channels of a hidden layer (:func:`irf`). Their summaries are in
:mod:`~retinacodec.receptive_fields.summaries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast, overload

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from .._progress import progress_bar
from .._validation import check_int
from ..attribution.gradients import full_output
from ..attribution.inputs import prepare_inputs
from ..attribution.options import AttributionOptions, checked_options
from ..attribution.routed import check_layer_channels, path_rule, routed_gradients
from ..device import evaluating, resolve_device
from ..errors import RetinaCodecError
from ..io.cf import PIXEL_X, PIXEL_Y, RATE_UNITS, TIME
from ..models.adapter import AdaptedModel, adapt
from ..models.registry import RetinaModel, windows
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import (
    mode_loadings,
    modes_layer,
    selected_mode_positions,
    shares_tensor,
)
from ..targets import Cell, resolve_cells
from .selection import ModeSelection, SelectionLike

IRF_UNITS = RATE_UNITS
"""UDUNITS units of an IRF: firing rate per unit of the stimulus's (dimensionless) contrast at
one pixel and frame."""
IRF_LONG_NAME = "instantaneous receptive field, Hz per unit contrast (per pixel per frame)"
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


@overload
def irf(
    model: nn.Module,
    stimulus: xr.DataArray,
    cells: int | Sequence[int] | None = None,
    times: float | Sequence[float] | np.ndarray | None = None,
    *,
    method: str = "gradient",
    n_steps: int = 20,
    modes: None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.DataArray: ...


@overload
def irf(
    model: nn.Module,
    stimulus: xr.DataArray,
    cells: int | Sequence[int] | None = None,
    times: float | Sequence[float] | np.ndarray | None = None,
    *,
    method: str = "gradient",
    n_steps: int = 20,
    modes: SelectionLike,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.Dataset: ...


@overload
def irf(
    model: nn.Module,
    stimulus: xr.DataArray,
    cells: int | Sequence[int] | None = None,
    times: float | Sequence[float] | np.ndarray | None = None,
    *,
    method: str = "gradient",
    n_steps: int = 20,
    modes: SelectionLike | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.DataArray | xr.Dataset: ...


def irf(
    model: nn.Module,
    stimulus: xr.DataArray,
    cells: int | Sequence[int] | None = None,
    times: float | Sequence[float] | np.ndarray | None = None,
    *,
    method: str = "gradient",
    n_steps: int = 20,
    modes: ModeSelection | Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
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
    modes : ModeSelection, Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray, optional
        Contribution (or activation) modes to decompose by (anything :meth:`Modes.coerce` takes):
        with an SAE, loadings at each (time, cell) come from that sample's contributions; a modes
        Dataset or a dictionary (mode, channel) or (mode, feature) has every mode loading 1 (see
        :func:`~retinacodec.modes.selection.channel_shares`); every mode, at the layer the modes
        record. A :class:`~retinacodec.receptive_fields.selection.ModeSelection` returns some of
        the modes (the others fall into the residual) or names the layer.
    batch_size : int
        Network evaluations (window x path node) per forward pass; the working memory holds
        about ``batch_size`` input windows' gradients per cell and per returned mode (plus one).
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    options : AttributionOptions, optional
        The rarely-set knobs: ``quadrature`` (the rule of ``"ig"`` and of the loadings'
        contributions), ``max_result_gb`` (refuse to start when the result would exceed this
        size; ask for fewer times, cells or modes instead) and ``progress`` (a bar over batches);
        see :class:`~retinacodec.attribution.options.AttributionOptions`.

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
        result larger than ``options.max_result_gb``, or options that this function does not use.

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
    options = checked_options(options, "irf", ("quadrature", "max_result_gb", "progress"))
    adapted = adapt(model)
    module = adapted.module
    retina = cast(RetinaModel, module)  # a retina model, as the docstring asks
    alphas, node_weights = path_rule(method, n_steps, options.quadrature)
    batch_size = check_int("batch_size", batch_size)
    by_mode = None if modes is None else _ByMode.of(modes, adapted)
    layer = None if by_mode is None else by_mode.layer
    device = resolve_device(device)
    with evaluating(module, device) as dtype:
        inputs, window_times = windows(module, stimulus)
        positions = _time_positions(window_times, times, float(stimulus.attrs["frame_rate_hz"]), retina.history)
        first_output = _first_output(adapted, inputs[:1].to(dtype), by_mode)
        cell_list = resolve_cells(cells, module, first_output)
        targets = [Cell(c) for c in cell_list]
        reducers = [target.bind(module, first_output) for target in targets]
        n_modes = 0 if by_mode is None else len(by_mode.selected)
        shape = (len(positions), len(cell_list), *inputs.shape[1:])
        _check_size(shape, n_modes, options.max_result_gb)
        snippet = stimulus.isel(time=slice(0, retina.history))
        baseline = prepare_inputs(module, snippet, "mean", dtype, device).baseline
        scale = 1.0 / float(retina.stimulus_std)
        whole = np.empty(shape, dtype=np.float32)
        parts = np.empty((*shape[:2], n_modes, *shape[2:]), dtype=np.float32)  # no modes: empty
        loadings_all = np.ones((*shape[:2], n_modes), dtype=np.float32)
        per_chunk = max(1, batch_size // len(alphas))
        for start in progress_bar(
            range(0, len(positions), per_chunk), desc="IRF", unit="batch", progress=options.progress
        ):
            chunk = slice(start, start + per_chunk)
            batch = inputs[torch.as_tensor(positions[chunk], device=inputs.device)].to(dtype)
            shares = None
            if by_mode is not None:
                loadings = None
                if by_mode.modes.has_encoder:
                    loadings = mode_loadings(
                        adapted,
                        by_mode.layer,
                        by_mode.modes,
                        batch,
                        baseline,
                        targets,
                        options.quadrature,
                        n_steps,
                        batch_size,
                        device,
                    )
                    loadings_all[chunk] = loadings[:, :, by_mode.selected].transpose(1, 0, 2)
                shares = shares_tensor(
                    by_mode.weights.values, loadings, by_mode.selected, (len(targets), len(batch)), dtype, device
                )
            total, routed = routed_gradients(
                adapted, batch, baseline, reducers, alphas, node_weights, batch_size, layer, shares
            )
            # input channel history - 1 is the current frame: flip so that lag 0 comes first
            whole[chunk] = (total.flip(2) * scale).transpose(0, 1).detach().cpu().numpy()
            if routed is not None:
                parts[chunk] = (routed.flip(3) * scale).transpose(0, 1).detach().cpu().numpy()
    result = _label(module, stimulus, window_times[positions], cell_list, whole)
    result.attrs.update(_provenance(module, stimulus, method, len(alphas), options.quadrature))
    if by_mode is None:
        return result
    return decomposed_irf(
        result,
        parts,
        loadings_all,
        by_mode.weights["mode"].values[by_mode.selected],
        by_mode.layer,
        "SAE loadings" if by_mode.modes.has_encoder else "static dictionary (all modes loading 1)",
    )


@dataclass(frozen=True)
class _ByMode:
    """The modes an IRF is decomposed by: their layer, channel weights (mode, channel) and the
    positions along ``mode`` of the modes returned."""

    modes: Modes
    layer: str
    weights: xr.DataArray
    selected: np.ndarray

    @classmethod
    def of(cls, modes: SelectionLike, adapted: AdaptedModel) -> _ByMode:
        """The decomposition ``modes`` (a selection or a bare mode set) asks for, checked against the model."""
        selection = ModeSelection.of(modes)
        coerced = Modes.coerce(selection.modes)
        weights = coerced.channel_weights()
        layer = modes_layer(weights, selection.layer, adapted)
        return cls(coerced, layer, weights, selected_mode_positions(weights, selection.positions))


def _first_output(adapted: AdaptedModel, first: torch.Tensor, by_mode: _ByMode | None) -> torch.Tensor:
    """The model's output for the first window (1, ...); with modes, after checking that their
    layer has their channels."""
    with torch.no_grad():
        if by_mode is None:
            return adapted.module(first)
        captured = adapted.capture(first, by_mode.layer)
        check_layer_channels(adapted, by_mode.layer, captured.activation, by_mode.weights.sizes["channel"])
        return full_output(captured)


def _check_size(shape: tuple[int, ...], n_modes: int, max_result_gb: float) -> None:
    """Refuse IRFs of ``shape`` (time, cell, lag, y, x) with ``n_modes`` modes (0 without) larger
    than ``max_result_gb``: the whole IRF, and with modes each mode's part and the residual."""
    size = shape[0] * shape[1] * (n_modes + (2 if n_modes else 1)) * np.prod(shape[2:]) * 4
    if size > max_result_gb * 1e9:
        raise RetinaCodecError(
            f"the IRFs of {shape[0]} times x {shape[1]} cells x {n_modes} modes would take "
            f"{size / 1e9:.1f} GB, over options.max_result_gb={max_result_gb}; expected fewer times, cells or "
            "selected modes (or a larger max_result_gb)"
        )


def decomposed_irf(
    result: xr.DataArray, parts: np.ndarray, loadings: np.ndarray, modes: np.ndarray, layer: str, source: str
) -> xr.Dataset:
    """The Dataset of a decomposed IRF: whole, per mode, residual, explained fraction, loadings.

    Parameters
    ----------
    result : xarray.DataArray
        The whole IRF (time, cell, lag, y, x), labeled.
    parts : numpy.ndarray
        Each mode's part (time, cell, mode, lag, y, x), in the IRF's units.
    loadings : numpy.ndarray
        (time, cell, mode) loadings of the modes (1 for a static dictionary).
    modes : numpy.ndarray
        The modes' labels along ``mode``.
    layer : str
        The layer the modes belong to.
    source : str
        Where the loadings came from, for the ``modes`` attr.

    Returns
    -------
    xarray.Dataset
        ``irf``, ``mode_irf``, ``residual`` (the IRF minus the parts), ``explained`` (time, cell)
        and ``loadings``; attrs of the IRF plus ``layer``, ``modes`` and ``explained_overall``.
    """
    residual = result.values - parts.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        explained = 1.0 - squared_norm(residual) / squared_norm(result.values)
        overall = 1.0 - squared_norm(residual).sum() / squared_norm(result.values).sum()
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


def squared_norm(values: np.ndarray) -> np.ndarray:
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
    attrs = {"units": IRF_UNITS, "long_name": IRF_LONG_NAME}
    da = xr.DataArray(values, dims=("time", "cell", *SPACE_TIME), coords=coords, name="irf", attrs=attrs)
    if types is not None:
        da = da.assign_coords(cell_type=("cell", [str(types[c]) for c in cells]))
    da["time"].attrs.update(TIME)
    da["lag"].attrs.update(units="s", long_name="time before the current frame")
    da["y"].attrs.update(PIXEL_Y)
    da["x"].attrs.update(PIXEL_X)
    return da


def _provenance(module: nn.Module, stimulus: xr.DataArray, method: str, n_steps: int, rule: str) -> dict:
    """Attrs of an IRF: units, package version, model, method, quadrature, baseline, stimulus."""
    return {
        "units": IRF_UNITS,
        "long_name": IRF_LONG_NAME,
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
