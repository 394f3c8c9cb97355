"""Instantaneous receptive fields (IRFs) of a retina model or an image classifier, whole and
decomposed by mode.

The IRF of cell :math:`i` at time :math:`t` is the sensitivity of its rate to the stimulus window
ending at :math:`t` (of an image classifier's target, to the image); a set of contribution modes
splits it into the parts that flow through each mode's channels of a hidden layer (:func:`irf`).
Their summaries are in :mod:`~retinacodec.receptive_fields.summaries`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from ..targets import Cell, Reducer, Target, TargetLike, as_targets, resolve_cells
from .images import image_provenance, image_values, is_image_input, label_image_irf, target_classes
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
    model: nn.Module | AdaptedModel,
    stimulus: xr.DataArray | torch.Tensor | np.ndarray,
    cells: TargetLike | Sequence | None = None,
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
    model: nn.Module | AdaptedModel,
    stimulus: xr.DataArray | torch.Tensor | np.ndarray,
    cells: TargetLike | Sequence | None = None,
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
    model: nn.Module | AdaptedModel,
    stimulus: xr.DataArray | torch.Tensor | np.ndarray,
    cells: TargetLike | Sequence | None = None,
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
    model: nn.Module | AdaptedModel,
    stimulus: xr.DataArray | torch.Tensor | np.ndarray,
    cells: TargetLike | Sequence | None = None,
    times: float | Sequence[float] | np.ndarray | None = None,
    *,
    method: str = "gradient",
    n_steps: int = 20,
    modes: ModeSelection | Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.DataArray | xr.Dataset:
    """Instantaneous receptive fields of a retina model's cells, or of an image classifier's
    targets, optionally decomposed by mode.

    One function serves both kinds of model: a model without a ``history`` of frames given
    anything but a (time, y, x) stimulus is an image classifier, and its IRF is the input
    gradient of each target at each image (see Returns).

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        A retina model (e.g. :func:`retinacodec.models.load`, or an openretina model through
        :func:`retinacodec.models.from_openretina`): input (N, history, y, x) stimulus windows
        normalised by its ``stimulus_mean`` and ``stimulus_std``, output (N, n_cells) rates in Hz;
        attrs ``history``, ``size``, ``frame_rate_hz``, ``name``. Or any image classifier
        (torchvision, timm, Hugging Face; choose the output tensor of a model that returns more
        with :func:`retinacodec.models.adapt`). Put in eval mode for the call.
    stimulus : xarray.DataArray, torch.Tensor or numpy.ndarray
        For a retina model, (time, y, x) contrast at the model's frame rate and frame size. For an
        image classifier, images (N, C, H, W) in the model's input space, or a DataArray (image,
        channel, y, x).
    cells : int, sequence of int, or a target, optional
        For a retina model, cell indices (all cells by default). For an image classifier, targets
        as :func:`~retinacodec.attribution.ig.contributions` takes them (``"top"``, the default;
        ``"class:K"``; an int, one class for every image; N ints, one class per image; a list of
        targets, each on every image; a function of the output).
    times : float or sequence of float, optional
        Times in s (each within half a frame of a stimulus frame that has ``history`` frames
        before it, itself included); every such frame by default. None for images.
    method : {"gradient", "ig"}
        ``"gradient"``: the gradient at the stimulus. ``"ig"``: the gradient averaged along the
        straight path from the zero-contrast (mean-luminance) stimulus, so that the IRF times the
        stimulus window sums to the rate minus the rate at zero contrast (see Notes); for images,
        from the all-zero input, so that ``(irf * images).sum()`` over (channel, y, x) is the
        target at the image minus the target at zero, up to the quadrature error.
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

        For an image classifier, ``irf`` (image, target, channel, y, x), float32, in the target's
        units per unit of the model input; coords image, target (its name), channel, y, x (px) and
        ``target_class`` (image, target), the class each target reads (-1 for a target that reads
        none). With modes, the same Dataset with (image, target) in place of (time, cell).

    Raises
    ------
    RetinaCodecError
        For an unknown cell or target, a time outside the stimulus, times given with images, a
        stimulus or images that do not fit the model,
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
    alphas, node_weights = path_rule(method, n_steps, options.quadrature)
    batch_size = check_int("batch_size", batch_size)
    by_mode = None if modes is None else _ByMode.of(modes, adapted)
    path = _Path(alphas, node_weights, n_steps, batch_size, options, resolve_device(device))
    if is_image_input(adapted.module, stimulus):
        if times is not None:
            raise RetinaCodecError(f"times {times!r} given with images; expected times=None (images have no time)")
        result, parts, loadings_all = _image_irf(adapted, stimulus, cells, method, path, by_mode)
    else:
        retina_cells = cast(int | Sequence[int] | None, cells)  # a retina model's targets are cells
        result, parts, loadings_all = _retina_irf(
            adapted, cast(xr.DataArray, stimulus), retina_cells, times, method, path, by_mode
        )
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
class _Path:
    """How the input gradients are taken: the path rule, its node count for the loadings, the
    batch size, the options and the device."""

    alphas: np.ndarray
    weights: np.ndarray
    n_steps: int
    batch_size: int
    options: AttributionOptions
    device: torch.device


Orient = Callable[[torch.Tensor, int], torch.Tensor]
"""``orient(gradients, lag_axis)``: gradients in the result's order and units (a retina model's
flips the lag axis and undoes the normalisation; an image classifier's keeps them)."""
TargetsOf = Callable[[np.ndarray, torch.Tensor], tuple[list[Target], list[Reducer]]]
"""``targets_of(rows, batch)``: the targets of the inputs ``rows`` (positions along the inputs),
and their reducers bound to the model output at ``batch``."""


def _retina_irf(
    adapted: AdaptedModel,
    stimulus: xr.DataArray,
    cells: int | Sequence[int] | None,
    times: float | Sequence[float] | np.ndarray | None,
    method: str,
    path: _Path,
    by_mode: _ByMode | None,
) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """The labeled (time, cell, lag, y, x) IRF of a retina model, each mode's part and the loadings."""
    module = adapted.module
    retina = cast(RetinaModel, module)  # a retina model, as the docstring asks
    with evaluating(module, path.device) as dtype:
        inputs, window_times = windows(module, stimulus)
        positions = _time_positions(window_times, times, float(stimulus.attrs["frame_rate_hz"]), retina.history)
        first_output = _first_output(adapted, inputs[:1].to(dtype), by_mode)
        cell_list = resolve_cells(cells, module, first_output)
        targets: list[Target] = [Cell(c) for c in cell_list]
        reducers = [target.bind(module, first_output) for target in targets]
        n_modes = 0 if by_mode is None else len(by_mode.selected)
        _check_size((len(positions), len(cell_list), *inputs.shape[1:]), n_modes, path.options.max_result_gb)
        snippet = stimulus.isel(time=slice(0, retina.history))
        baseline = prepare_inputs(module, snippet, "mean", dtype, path.device).baseline
        scale = 1.0 / float(retina.stimulus_std)
        # input channel history - 1 is the current frame: flip so that lag 0 comes first
        whole, parts, loadings_all = _gradients(
            adapted,
            inputs,
            positions,
            baseline,
            (len(targets), lambda rows, batch: (targets, reducers)),
            path,
            by_mode,
            lambda gradients, lag: gradients.flip(lag) * scale,
        )
    result = _label(module, stimulus, window_times[positions], cell_list, whole)
    result.attrs.update(_provenance(module, stimulus, method, len(path.alphas), path.options.quadrature))
    return result, parts, loadings_all


def _image_irf(
    adapted: AdaptedModel,
    images: xr.DataArray | torch.Tensor | np.ndarray,
    target: TargetLike | Sequence | None,
    method: str,
    path: _Path,
    by_mode: _ByMode | None,
) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """The labeled (image, target, channel, y, x) IRF of an image classifier, each mode's part and
    the loadings."""
    module = adapted.module
    targets = as_targets("top" if target is None else target)
    values, coords = image_values(images)
    with evaluating(module, path.device) as dtype:
        inputs = prepare_inputs(module, cast(torch.Tensor, values), "zero", dtype, path.device)
        _first_output(adapted, inputs.values[:1], by_mode)
        n_modes = 0 if by_mode is None else len(by_mode.selected)
        _check_size(
            tuple(inputs.values.shape[:1]) + (len(targets), *inputs.values.shape[1:]),
            n_modes,
            path.options.max_result_gb,
            ("images", "targets"),
        )
        classes = np.empty((inputs.values.shape[0], len(targets)), dtype=np.int64)

        def targets_of(rows: np.ndarray, batch: torch.Tensor) -> tuple[list[Target], list[Reducer]]:
            index = torch.as_tensor(rows)
            chunk = [t.for_inputs(index, len(inputs.values)) for t in targets]
            with torch.no_grad():
                output = adapted(batch)
            classes[rows] = target_classes(chunk, output)
            return chunk, [t.bind(module, output) for t in chunk]

        whole, parts, loadings_all = _gradients(
            adapted,
            inputs.values,
            np.arange(inputs.values.shape[0]),
            inputs.baseline,
            (len(targets), targets_of),
            path,
            by_mode,
            lambda gradients, lag: gradients,
        )
    attrs = image_provenance(module, method, len(path.alphas), path.options.quadrature, targets)
    return label_image_irf(whole, coords, targets, classes, attrs), parts, loadings_all


def _gradients(
    adapted: AdaptedModel,
    inputs: torch.Tensor,
    positions: np.ndarray,
    baseline: torch.Tensor,
    targets: tuple[int, TargetsOf],
    path: _Path,
    by_mode: _ByMode | None,
    orient: Orient,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IRF of the inputs at ``positions`` chunk by chunk, whole and by mode.

    ``targets`` is the number T of targets and the function that gives them for each chunk. Returns
    float32 arrays: the whole (P, T, ...), each selected mode's part (P, T, mode, ...; empty without
    modes) and the loadings (P, T, mode; ones without an encoder), the gradients oriented by
    ``orient``.
    """
    n_targets, targets_of = targets
    n_modes = 0 if by_mode is None else len(by_mode.selected)
    shape = (len(positions), n_targets, *inputs.shape[1:])
    whole = np.empty(shape, dtype=np.float32)
    parts = np.empty((*shape[:2], n_modes, *shape[2:]), dtype=np.float32)  # no modes: empty
    loadings_all = np.ones((*shape[:2], n_modes), dtype=np.float32)
    layer = None if by_mode is None else by_mode.layer
    per_chunk = max(1, path.batch_size // len(path.alphas))
    for start in progress_bar(
        range(0, len(positions), per_chunk), desc="IRF", unit="batch", progress=path.options.progress
    ):
        chunk = slice(start, start + per_chunk)
        batch = inputs[torch.as_tensor(positions[chunk], device=inputs.device)].to(baseline.dtype)
        chunk_targets, reducers = targets_of(positions[chunk], batch)
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
                    chunk_targets,
                    path.options.quadrature,
                    path.n_steps,
                    path.batch_size,
                    path.device,
                )
                loadings_all[chunk] = loadings[:, :, by_mode.selected].transpose(1, 0, 2)
            shares = shares_tensor(
                by_mode.weights.values, loadings, by_mode.selected, (n_targets, len(batch)), baseline.dtype, path.device
            )
        total, routed = routed_gradients(
            adapted, batch, baseline, reducers, path.alphas, path.weights, path.batch_size, layer, shares
        )
        whole[chunk] = orient(total, 2).transpose(0, 1).detach().cpu().numpy()
        if routed is not None:
            parts[chunk] = orient(routed, 3).transpose(0, 1).detach().cpu().numpy()
    return whole, parts, loadings_all


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
            return adapted(first)
        captured = adapted.capture(first, by_mode.layer)
        check_layer_channels(adapted, by_mode.layer, captured.activation, by_mode.weights.sizes["channel"])
        return full_output(captured)


def _check_size(
    shape: tuple[int, ...], n_modes: int, max_result_gb: float, names: tuple[str, str] = ("times", "cells")
) -> None:
    """Refuse IRFs of ``shape`` (time, cell, lag, y, x), or (image, target, channel, y, x) with
    ``names`` ("images", "targets"), with ``n_modes`` modes (0 without) larger than
    ``max_result_gb``: the whole IRF, and with modes each mode's part and the residual."""
    size = shape[0] * shape[1] * (n_modes + (2 if n_modes else 1)) * np.prod(shape[2:]) * 4
    if size > max_result_gb * 1e9:
        raise RetinaCodecError(
            f"the IRFs of {shape[0]} {names[0]} x {shape[1]} {names[1]} x {n_modes} modes would take "
            f"{size / 1e9:.1f} GB, over options.max_result_gb={max_result_gb}; expected fewer {names[0]}, "
            f"{names[1]} or selected modes (or a larger max_result_gb)"
        )


def decomposed_irf(
    result: xr.DataArray, parts: np.ndarray, loadings: np.ndarray, modes: np.ndarray, layer: str, source: str
) -> xr.Dataset:
    """The Dataset of a decomposed IRF: whole, per mode, residual, explained fraction, loadings.

    Parameters
    ----------
    result : xarray.DataArray
        The whole IRF (time, cell, lag, y, x), labeled; or an image classifier's (image, target,
        channel, y, x). The names below are those of a retina IRF.
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
    lead, space = result.dims[:2], result.dims[2:]
    residual = result.values - parts.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        explained = 1.0 - squared_norm(residual) / squared_norm(result.values)
        overall = 1.0 - squared_norm(residual).sum() / squared_norm(result.values).sum()
    mode_irf = xr.DataArray(
        parts, dims=(*lead, "mode", *space), coords={**result.coords, "mode": modes}, attrs=result.attrs
    )
    return xr.Dataset(
        {
            "irf": result,
            "mode_irf": mode_irf,
            "residual": result.copy(data=residual),
            "explained": (
                lead,
                explained.astype(np.float32),
                {"long_name": f"1 - |residual|^2 / |irf|^2 per {lead[0]} and {lead[1]} (NaN for a zero IRF)"},
            ),
            "loadings": (
                (*lead, "mode"),
                loadings,
                {"long_name": "SAE loadings of each sample (1 for a static dictionary)"},
            ),
        },
        attrs={**result.attrs, "layer": str(layer), "modes": source, "explained_overall": float(overall)},
    )


def squared_norm(values: np.ndarray) -> np.ndarray:
    """Sum of squares over the last three axes ((lag, y, x), or an image's (channel, y, x)), in float64."""
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
