"""Hidden-layer Integrated Gradients: the contribution of each channel of a layer to a target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast, overload

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from tqdm import tqdm

from .. import __version__
from .._progress import progress_bar
from ..device import evaluating, resolve_device
from ..errors import RetinaCodecError
from ..io.cf import DIMENSIONLESS, RATE_UNITS, TIME
from ..models.adapter import AdaptedModel, Capture, adapt
from ..targets import (
    Cell,
    CellType,
    ClassLogit,
    ClassPerInput,
    Target,
    TargetLike,
    TopLogit,
    as_targets,
    forward_kwargs,
)
from .activation import CELL_LONG_NAME, CellActivation, check_activation
from .conductance import conductance_maps
from .gradients import full_output, take_rows
from .inputs import Inputs, prepare_inputs
from .layer_path import layer_path_map
from .options import AttributionOptions, checked_options
from .quadrature import quadrature

SIGNS = ("neg", "pos")
_TARGET_UNITS = {Cell: RATE_UNITS, CellType: RATE_UNITS, TopLogit: DIMENSIONLESS, ClassLogit: DIMENSIONLESS}
"""UDUNITS units of each kind of target: a retina model's rate, a classifier's logit."""


def _sum_space(values: torch.Tensor, lead: int, channel_axis: int, split: bool) -> np.ndarray:
    """Sum every axis after the ``lead`` leading ones except the channel axis (given in layer
    coordinates (N, ...)); with ``split``, positive and negative parts apart (last axis neg, pos)."""
    values = values.movedim(channel_axis - 1 + lead, -1)
    values = values.reshape(*values.shape[:lead], -1, values.shape[-1])  # (lead..., space, channel)
    if split:
        summed = torch.stack([values.clamp(max=0).sum(lead), values.clamp(min=0).sum(lead)], dim=-1)
    else:
        summed = values.sum(lead)
    return summed.detach().cpu().numpy()


def _sample_index(inputs: Inputs, targets: Sequence[Target]) -> pd.MultiIndex:
    """The ``sample`` index: (time, cell), (time, target), (image, target) or (image)."""
    codes = [np.repeat(inputs.coord, len(targets))]
    cells = [t.i for t in targets if isinstance(t, Cell)]
    if len(cells) == len(targets) and inputs.dim == "time":
        codes.append(np.tile(cells, len(inputs.coord)))
        return pd.MultiIndex.from_arrays(codes, names=[inputs.dim, "cell"])
    if len(targets) > 1 or inputs.dim == "time":
        codes.append(np.tile([str(t) for t in targets], len(inputs.coord)))
        return pd.MultiIndex.from_arrays(codes, names=[inputs.dim, "target"])
    return pd.MultiIndex.from_arrays(codes, names=[inputs.dim])


@overload
def contributions(
    model: nn.Module | AdaptedModel,
    x: xr.DataArray | torch.Tensor | np.ndarray,
    layer: str | nn.Module,
    target: TargetLike | Sequence | None = None,
    *,
    baseline: str | torch.Tensor | np.ndarray = "zero",
    n_steps: int = 20,
    method: str = "gausslegendre",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.Dataset: ...


@overload
def contributions(
    model: nn.Module | AdaptedModel,
    x: xr.DataArray | torch.Tensor | np.ndarray,
    layer: list[str] | tuple[str, ...],
    target: TargetLike | Sequence | None = None,
    *,
    baseline: str | torch.Tensor | np.ndarray = "zero",
    n_steps: int = 20,
    method: str = "gausslegendre",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> dict[str, xr.Dataset]: ...


@overload
def contributions(
    model: nn.Module | AdaptedModel,
    x: xr.DataArray | torch.Tensor | np.ndarray,
    layer: str | nn.Module | Sequence[str | nn.Module] | None = None,
    target: TargetLike | Sequence | None = None,
    *,
    baseline: str | torch.Tensor | np.ndarray = "zero",
    n_steps: int = 20,
    method: str = "gausslegendre",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.Dataset | dict[str, xr.Dataset]: ...


def contributions(
    model: nn.Module | AdaptedModel,
    x: xr.DataArray | torch.Tensor | np.ndarray,
    layer: str | nn.Module | Sequence[str | nn.Module] | None = None,
    target: TargetLike | Sequence | None = None,
    *,
    baseline: str | torch.Tensor | np.ndarray = "zero",
    n_steps: int = 20,
    method: str = "gausslegendre",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.Dataset | dict[str, xr.Dataset]:
    """Contribution of each channel of a hidden layer (or of several) to a scalar target, by
    Integrated Gradients.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        The network (put in eval mode, and on ``device``, for the duration of the call).
    x : xarray.DataArray, torch.Tensor or numpy.ndarray
        A stimulus DataArray (time, y, x) in contrast for a retina model (one input per time
        point: the window of ``model.history`` frames ending there), or a batch of inputs (N, ...),
        e.g. images (N, C, H, W).
    layer : str, torch.nn.Module, or a sequence of them
        (Required.) Layer name or alias (see :func:`retinacodec.models.adapt`), or the submodule
        itself (``model.layer3``), or several of them in one pass. On the input path one
        interpolation of the inputs serves every layer: each quadrature node is one forward pass
        recording all the layers and one backward pass (per target) reaching all of them. On the
        layer path the forward pass to the layers is shared and each layer's downstream part runs
        on its own path. Each layer's result equals its own single-layer call to float rounding.
    target : Target, str, int, callable, a list of them, or class indices one per input
        (Required.) What to explain, e.g. ``TopLogit()``, ``"class:3"`` or ``3`` (class 3 for every
        input), ``Cell(0)``, ``CellType("ON")`` or a function output -> (N,). A list of targets
        gives one sample per (input, target) pair: ``["class:3", "class:5"]`` is both classes on
        every input. As in Captum, a tensor or list of N ints is one class per input (input n
        explains class ``target[n]``, :class:`~retinacodec.targets.ClassPerInput`). Cell targets
        of a session (``Cell(0, session="s1")``) pass it to the model's forward pass; all targets
        must share one session.
    baseline : {"zero", "mean"} or array
        Starting point in input space: all-zero input; the mean input (for a stimulus, the
        mean-luminance, zero-contrast stimulus; for images the per-pixel mean over ``x``); or an
        array shaped like one input or like ``x``'s inputs.
    n_steps : int
        Quadrature nodes (network evaluations per sample); for ``activation_trapezoid``, steps
        (``n_steps + 1`` evaluations).
    method : str
        Quadrature rule, one of :data:`retinacodec.attribution.quadrature.METHODS`.
        ``"activation_trapezoid"`` with ``path="input"`` is the CODEC reference code's rule:
        :math:`\\sum_{i=1}^{n} \\tfrac12 (g_{i-1} + g_i) \\odot (a_i - a_{i-1})` over the
        ``n_steps + 1`` evenly spaced points of the input path, :math:`a_i` the layer's output and
        :math:`g_i` the target's gradient with respect to it (on the layer path, :math:`a` is linear
        in :math:`\\alpha` and it is the trapezoid rule on those points).
    batch_size : int
        Most network evaluations per batch (samples x steps are stacked into batches); memory is
        about ``batch_size`` times one sample's forward-and-backward pass below the layer.
    device : {"cpu", "auto"}, str or torch.device
        Where to compute; ``"auto"`` picks CUDA when available.
    options : AttributionOptions, optional
        The rarely-set knobs: ``path`` (``"layer"`` or ``"input"``), ``split`` (None or
        ``"sign"``: extra dim ``sign`` = ["neg", "pos"]), ``activation`` (``"space"`` or
        ``"cell"``) and ``progress``; see :class:`~retinacodec.attribution.options.AttributionOptions`.

    Returns
    -------
    xarray.Dataset, or dict of str to xarray.Dataset
        For a sequence of layers, one Dataset per layer, keyed as given (completeness checked per
        layer).
        ``contribution`` and ``activation`` (sample, channel[, sign]), summed over space or
        tokens, in units of the target (contribution) and of the layer output (activation);
        ``target_value`` f(x), ``baseline_value`` (the target at the path's start: F(a0) for
        ``path="layer"``, f(x0) for ``path="input"``) and ``completeness_error`` (sample).
        ``sample`` is a stacked index: (time, cell) for a stimulus and Cell targets, (image) for
        one target on a batch of inputs, with a ``target`` level for several targets. Attrs record
        the package version, model, layer, target, path, method, n_steps, baseline and split.

    Raises
    ------
    RetinaCodecError
        For a missing or unknown layer, an unknown target index or method; non-finite inputs; a
        bad baseline, batch size or device; options that this function does not use.

    Notes
    -----
    For channel :math:`c` of a layer with output :math:`a`, the contribution is the sum over
    space (or tokens) :math:`p` of the elementwise Integrated Gradients

    .. math:: C_c = \\sum_p \\int_0^1 \\frac{\\partial F}{\\partial a_{cp}}(\\gamma(\\alpha))\\,
              \\frac{d\\gamma_{cp}}{d\\alpha}\\,d\\alpha,

    with :math:`\\gamma` the path in the layer's space (a straight line for ``path="layer"``, the
    image of the input-space line for ``path="input"``), approximated by the quadrature rule
    :math:`\\sum_k w_k (\\cdot)(\\alpha_k)`. ``completeness_error`` is
    :math:`\\sum_c C_c - (F(\\text{end}) - F(\\text{start}))`; it falls as the rule promises
    on smooth networks (fastest for ``gausslegendre``). On piecewise-linear networks (ReLU) the
    integrand jumps where units switch along the path, and every rule's error then falls only
    about as :math:`1/n`.
    """
    options = checked_options(options, "contributions", ("path", "split", "activation", "progress"))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RetinaCodecError(f"batch_size is {batch_size!r}; expected a positive integer")
    if target is None:
        raise RetinaCodecError("no target given; expected e.g. TopLogit(), 'class:3' or Cell(0)")
    rule = (method, *quadrature(method, n_steps))
    adapted = adapt(model)
    names = _layer_names(adapted, layer)
    targets = as_targets(target)
    if kwargs := forward_kwargs(targets):
        adapted = adapted.with_forward_kwargs(kwargs)
    split = options.split
    per_cell = check_activation(options.activation, targets) == "cell"
    module = adapted.module
    target_device = resolve_device(device)
    with evaluating(module, target_device) as dtype:
        inputs = prepare_inputs(module, x, baseline, dtype, target_device)
        cells = [t for t in targets if isinstance(t, Cell)]  # all of them with per_cell (check_activation)
        windowed = CellActivation(adapted, cells, split == "sign") if per_cell else None
        results = _run(
            adapted,
            list(names.values()),
            targets,
            inputs,
            options.path,
            rule,
            split == "sign",
            batch_size,
            options.progress,
            windowed,
        )
    attrs = {
        "retinacodec_version": __version__,
        "model": type(module).__name__,
        "target": ", ".join(map(str, targets)),
        "path": options.path,
        "method": method,
        "n_steps": int(n_steps),
        "baseline": baseline if isinstance(baseline, str) else "array",
        "split": split or "none",
        "activation": "cell" if per_cell else "space",
        "dtype": str(dtype).replace("torch.", ""),
        **inputs.attrs,
    }
    index = _sample_index(inputs, targets)
    units = {_TARGET_UNITS.get(type(t)) for t in targets}  # a callable target's are unknown (None)
    unit = units.pop() if len(units) == 1 else None
    datasets = {
        given: _dataset(results[name], index, split, module, {**attrs, "layer": str(given), "layer_module": name}, unit)
        for given, name in names.items()
    }
    if isinstance(targets[0], ClassPerInput) and len(targets) == 1:
        classes = ("sample", targets[0].classes.numpy(), {"long_name": "class each input explains"})
        datasets = {given: ds.assign_coords(target_class=classes) for given, ds in datasets.items()}
    single = isinstance(layer, (str, nn.Module))  # any other single value was refused
    return datasets[next(iter(datasets))] if single else datasets


def _layer_names(adapted: AdaptedModel, layer: str | nn.Module | Sequence[str | nn.Module] | None) -> dict[str, str]:
    """Given layer name -> dotted module name, for one layer or a sequence of them; a layer given
    as a module is keyed by its dotted name."""
    if layer is None:
        raise RetinaCodecError("no layer given; expected a layer name, or a list of layer names")
    single = isinstance(layer, (str, nn.Module)) or not isinstance(layer, Sequence)
    given: list[str | nn.Module] = [cast(str | nn.Module, layer)] if single else list(cast(Sequence, layer))
    if not given:
        raise RetinaCodecError(f"layer is {layer!r}; expected a layer name or a non-empty list of layer names")
    resolved = [adapted.resolve(one) for one in given]
    names = {one if isinstance(one, str) else name: name for one, name in zip(given, resolved)}
    if len(set(resolved)) != len(given):
        raise RetinaCodecError(f"layers {sorted(resolved)} name some module twice; expected distinct layers")
    return names


def _dataset(
    results: tuple[np.ndarray, ...],
    index: pd.MultiIndex,
    split: str | None,
    module: nn.Module,
    attrs: dict,
    units: str | None,
) -> xr.Dataset:
    """One layer's labeled result from its (contribution, activation, target, baseline) arrays;
    ``units`` are the target's (None: unknown)."""
    contribution, activation, target_value, baseline_value = results
    dims = ("sample", "channel", "sign") if split else ("sample", "channel")
    n_samples, n_channels = contribution.shape[:2]
    total = contribution.reshape(n_samples, -1).sum(axis=1)
    coords = xr.Coordinates.from_pandas_multiindex(index, "sample")
    ds = xr.Dataset(
        {
            "contribution": (dims, contribution, {"long_name": "contribution to the target, summed over space"}),
            "activation": (dims, activation, {"long_name": "layer output, summed over space"}),
            "target_value": ("sample", target_value, {"long_name": "target at the actual input"}),
            "baseline_value": ("sample", baseline_value, {"long_name": "target at the start of the path"}),
            "completeness_error": (
                "sample",
                total - (target_value - baseline_value),
                {"long_name": "sum of contributions minus (target - baseline value)"},
            ),
        },
        coords=coords,
    ).assign_coords(channel=np.arange(n_channels))
    if split:
        ds = ds.assign_coords(sign=list(SIGNS))
    if attrs["activation"] == "cell":
        ds["activation"].attrs["long_name"] = CELL_LONG_NAME
    if "cell" in index.names and getattr(module, "cell_type", None) is not None:
        ds = ds.assign_coords(cell_type=("sample", np.asarray(module.cell_type)[index.get_level_values("cell")]))
    if "time" in index.names:
        ds["time"].attrs.update(TIME)
    if units is not None:
        for name in ("contribution", "target_value", "baseline_value", "completeness_error"):
            ds[name].attrs["units"] = units
    ds.attrs = attrs
    return ds


def _run(
    adapted: AdaptedModel,
    layers: list[str],
    targets: Sequence[Target],
    inputs: Inputs,
    path: str,
    rule: tuple[str, np.ndarray, np.ndarray],
    split: bool,
    batch_size: int,
    progress: bool,
    per_cell: CellActivation | None = None,
) -> dict[str, tuple[np.ndarray, ...]]:
    """Compute every layer's contributions chunk by chunk of inputs; arrays are sample-major
    (input, target). ``rule`` is the quadrature method's name, nodes and weights; ``per_cell``, if
    given, makes the activation each target cell's, from the layer's captured output."""
    values, baseline = inputs.values, inputs.baseline
    n_inputs, n_steps = values.shape[0], len(rule[1])
    chunk = max(1, batch_size // n_steps)
    with torch.no_grad():
        shared = adapted.capture_layers(baseline, layers) if baseline.shape[0] == 1 else None
    parts: dict[str, dict[str, list[np.ndarray]]] = {layer: {key: [] for key in _PARTS} for layer in layers}
    passes = len(layers) if path == "layer" else 1
    bar = progress_bar(
        total=n_inputs * n_steps * passes,
        progress=progress,
        unit="eval",
        desc=f"contributions of {layers[0]}" + (f" .. {layers[-1]} ({len(layers)} layers)" if passes > 1 else ""),
    )
    with bar:
        for start in range(0, n_inputs, chunk):
            chunk_index = torch.arange(start, min(n_inputs, start + chunk), device=values.device)
            chunk_baseline = baseline if shared is not None else baseline[chunk_index]
            with torch.no_grad():
                chunk_values = values[chunk_index].to(baseline.dtype)
                actual = adapted.capture_layers(chunk_values, layers)
                base = shared if shared is not None else adapted.capture_layers(chunk_baseline, layers)
            output = full_output(actual[layers[0]])
            reducers = [t.for_inputs(chunk_index, n_inputs).bind(adapted.module, output) for t in targets]
            maps, starts = _elementwise(
                adapted, layers, reducers, (chunk_values, chunk_baseline), actual, base, path, rule, batch_size, bar
            )
            for layer in layers:
                _append(
                    parts[layer], adapted, layer, maps[layer], actual[layer], starts[layer], reducers, split, per_cell
                )
    return {layer: tuple(np.concatenate(parts[layer][key]) for key in _PARTS) for layer in layers}


_PARTS = ("contribution", "activation", "target", "baseline")


def _elementwise(
    adapted: AdaptedModel,
    layers: list[str],
    reducers: Sequence,
    points: tuple[torch.Tensor, torch.Tensor],
    actual: dict[str, Capture],
    base: dict[str, Capture],
    path: str,
    rule: tuple[str, np.ndarray, np.ndarray],
    batch_size: int,
    bar: tqdm,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Per layer, the elementwise contributions (N, n_targets, ...) of one chunk of inputs, and the
    model output at the path's start (F(a0) in the input's context, or f(x0))."""
    method, alphas_np, weights_np = rule
    values, baseline = points
    alphas = torch.as_tensor(alphas_np, dtype=baseline.dtype, device=baseline.device)
    weights = torch.as_tensor(weights_np, dtype=baseline.dtype, device=baseline.device)
    local = torch.arange(values.shape[0], device=values.device)
    if path == "input":
        maps = conductance_maps(
            adapted,
            layers,
            reducers,
            points,
            {layer: (base[layer].activation, actual[layer].activation) for layer in layers},
            (method, alphas, weights),
            batch_size,
            bar,
        )
        return maps, {layer: take_rows(full_output(base[layer]), local) for layer in layers}
    maps, starts = {}, {}
    for layer in layers:
        downstream = adapted.downstream(layer)
        with torch.no_grad():  # the target at the path's start, F(a0), in the input's context
            starts[layer] = (
                downstream(take_rows(base[layer].activation, local), actual[layer].context)
                if downstream.needs_context
                else take_rows(full_output(base[layer]), local)
            )
        maps[layer] = layer_path_map(
            downstream,
            reducers,
            actual[layer].activation,
            base[layer].activation,
            actual[layer].context,
            alphas,
            weights,
            batch_size,
            bar,
        )
    return maps, starts


def _append(
    parts: dict[str, list],
    adapted: AdaptedModel,
    layer: str,
    elementwise: torch.Tensor,
    actual: Capture,
    start_output: torch.Tensor,
    reducers: Sequence,
    split: bool,
    per_cell: CellActivation | None,
) -> None:
    """Sum one chunk's elementwise contributions and activations over space (or each target
    cell's window, with ``per_cell``) into ``parts``."""
    local = torch.arange(actual.activation.shape[0], device=actual.activation.device)
    axis = adapted.channel_axis(layer, actual.activation)
    summed = _sum_space(elementwise, 2, axis, split)
    parts["contribution"].append(summed.reshape(-1, *summed.shape[2:]))
    if per_cell is not None:
        parts["activation"].append(per_cell(layer, actual.activation))
    else:
        activation = _sum_space(actual.activation.unsqueeze(1), 2, axis, split)
        parts["activation"].append(np.repeat(activation, len(reducers), axis=1).reshape(-1, *activation.shape[2:]))
    parts["target"].append(torch.stack([r(actual.output, local) for r in reducers], 1).cpu().numpy().ravel())
    parts["baseline"].append(torch.stack([r(start_output, local) for r in reducers], 1).cpu().numpy().ravel())
