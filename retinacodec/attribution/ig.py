"""Hidden-layer Integrated Gradients: the contribution of each channel of a layer to a target."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from tqdm import tqdm

from .. import __version__
from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, adapt
from ..device import evaluating, resolve_device
from ..targets import Cell, Target, as_targets
from .activation import CELL_LONG_NAME, cell_activation, check_activation
from .conductance import conductance_map
from .gradients import take_rows
from .inputs import Inputs, prepare_inputs
from .layer_path import layer_path_map
from .quadrature import quadrature

PATHS = ("layer", "input")
SIGNS = ("neg", "pos")


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
    if all(isinstance(t, Cell) for t in targets) and inputs.dim == "time":
        codes.append(np.tile([t.i for t in targets], len(inputs.coord)))
        return pd.MultiIndex.from_arrays(codes, names=[inputs.dim, "cell"])
    if len(targets) > 1 or inputs.dim == "time":
        codes.append(np.tile([str(t) for t in targets], len(inputs.coord)))
        return pd.MultiIndex.from_arrays(codes, names=[inputs.dim, "target"])
    return pd.MultiIndex.from_arrays(codes, names=[inputs.dim])


def contributions(
    model: nn.Module | AdaptedModel,
    x: xr.DataArray | torch.Tensor | np.ndarray,
    layer: str,
    target: Target | str | Callable | Sequence,
    path: str = "layer",
    baseline: str | torch.Tensor | np.ndarray = "zero",
    n_steps: int = 20,
    method: str = "gausslegendre",
    split: str | None = None,
    activation: str = "space",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> xr.Dataset:
    """Contribution of each channel of a hidden layer to a scalar target, by Integrated Gradients.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        The network (put in eval mode, and on ``device``, for the duration of the call).
    x : xarray.DataArray, torch.Tensor or numpy.ndarray
        A stimulus DataArray (time, y, x) in contrast for a retina model (one input per time
        point: the window of ``model.history`` frames ending there), or a batch of inputs (N, ...),
        e.g. images (N, C, H, W).
    layer : str
        Layer name or alias (see :func:`retinacodec.models.adapt`).
    target : Target, str, callable, or a list of them
        What to explain, e.g. ``TopLogit()``, ``"class:3"``, ``Cell(0)``, ``CellType("ON")`` or a
        function output -> (N,). A list gives one sample per (input, target) pair.
    path : {"layer", "input"}
        ``"layer"``: the straight path in the layer's own space from the baseline activation to
        the actual one (completeness in that space; only the downstream network runs per step).
        ``"input"``: layer conductance, the straight path in input space (completeness to the
        output when every path from input to output goes through the layer).
    baseline : {"zero", "mean"} or array
        Starting point in input space: all-zero input; the mean input (for a stimulus, the
        mean-luminance, zero-contrast stimulus; for images the per-pixel mean over ``x``); or an
        array shaped like one input or like ``x``'s inputs.
    n_steps : int
        Quadrature nodes (network evaluations per sample).
    method : str
        Quadrature rule, one of :data:`retinacodec.attribution.quadrature.METHODS`.
    split : {None, "sign"}
        ``"sign"``: sum positive and negative elementwise contributions over space separately
        (extra dim ``sign`` = ["neg", "pos"]).
    activation : {"space", "cell"}
        How the layer's output is reduced to the ``activation`` variable: summed over space (the
        same for every target at an input; for population targets), or, for Cell targets,
        averaged over each cell's receptive-field window
        (:func:`retinacodec.attribution.activation.cell_activation`), so that it depends on the cell.
    batch_size : int
        Most network evaluations per batch (samples x steps are stacked into batches); memory is
        about ``batch_size`` times one sample's forward-and-backward pass below the layer.
    device : {"cpu", "auto"}, str or torch.device
        Where to compute; ``"auto"`` picks CUDA when available.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
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
        For an unknown layer, target index, path, method or split; non-finite inputs; a bad
        baseline, batch size or device.

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
    if path not in PATHS:
        raise RetinaCodecError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")
    if split not in (None, "sign"):
        raise RetinaCodecError(f"unknown split {split!r}; expected None or 'sign'")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RetinaCodecError(f"batch_size is {batch_size!r}; expected a positive integer")
    rule = (method, *quadrature(method, n_steps))
    adapted = adapt(model)
    name = adapted.resolve(layer)
    targets = as_targets(target)
    per_cell = check_activation(activation, targets) == "cell"
    module = adapted.module
    target_device = resolve_device(device)
    with evaluating(module, target_device) as dtype:
        inputs = prepare_inputs(module, x, baseline, dtype, target_device)
        results = _run(adapted, name, targets, inputs, path, rule, split == "sign", batch_size, progress)
        if per_cell:
            windowed = cell_activation(adapted, name, inputs.values, targets, split == "sign", batch_size)
            results = (results[0], windowed, *results[2:])
    contribution, activation, target_value, baseline_value = results
    index = _sample_index(inputs, targets)
    dims = ("sample", "channel", "sign") if split else ("sample", "channel")
    n_samples, n_channels = contribution.shape[:2]
    difference = target_value - baseline_value
    total = contribution.reshape(n_samples, -1).sum(axis=1)
    coords = xr.Coordinates.from_pandas_multiindex(index, "sample")
    ds = xr.Dataset(
        {
            "contribution": (dims, contribution, {"long_name": "contribution to the target, summed over space"}),
            "activation": (dims, activation, {"long_name": "layer output, summed over space"}),
            "target_value": ("sample", target_value, {"long_name": "target at the actual input"}),
            "baseline_value": ("sample", baseline_value, {"long_name": "target at the start of the path"}),
            "completeness_error": ("sample", total - difference,
                                   {"long_name": "sum of contributions minus (target - baseline value)"}),
        },
        coords=coords,
    ).assign_coords(channel=np.arange(n_channels))
    if split:
        ds = ds.assign_coords(sign=list(SIGNS))
    if per_cell:
        ds["activation"].attrs["long_name"] = CELL_LONG_NAME
    if "cell" in index.names and getattr(module, "cell_type", None) is not None:
        ds = ds.assign_coords(cell_type=("sample", np.asarray(module.cell_type)[index.get_level_values("cell")]))
    ds.attrs = {
        "retinacodec_version": __version__,
        "model": type(module).__name__,
        "layer": str(layer),
        "layer_module": name,
        "target": ", ".join(str(t) for t in targets),
        "path": path,
        "method": method,
        "n_steps": int(n_steps),
        "baseline": baseline if isinstance(baseline, str) else "array",
        "split": split or "none",
        "activation": "cell" if per_cell else "space",
        "dtype": str(dtype).replace("torch.", ""),
        **inputs.attrs,
    }
    return ds


def _run(adapted: AdaptedModel, layer: str, targets: Sequence[Target], inputs: Inputs, path: str,
         rule: tuple[str, np.ndarray, np.ndarray], split: bool, batch_size: int,
         progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Compute contributions chunk by chunk of inputs; arrays are sample-major (input, target).
    ``rule`` is the quadrature method's name, nodes and weights."""
    values, baseline = inputs.values, inputs.baseline
    method, alphas_np, weights_np = rule
    n_steps = len(alphas_np)
    alphas = torch.as_tensor(alphas_np, dtype=baseline.dtype, device=baseline.device)
    weights = torch.as_tensor(weights_np, dtype=baseline.dtype, device=baseline.device)
    downstream = adapted.downstream(layer)
    n_inputs = values.shape[0]
    chunk = max(1, batch_size // n_steps)
    with torch.no_grad():
        shared = adapted.capture(baseline, layer) if baseline.shape[0] == 1 else None
    parts: dict[str, list[np.ndarray]] = {"contribution": [], "activation": [], "target": [], "baseline": []}
    bar = tqdm(total=n_inputs * n_steps, disable=not progress, desc=f"contributions of {layer}", unit="eval")
    with bar:
        for start in range(0, n_inputs, chunk):
            chunk_index = torch.arange(start, min(n_inputs, start + chunk), device=values.device)
            local = torch.arange(len(chunk_index), device=values.device)
            chunk_baseline = baseline if shared is not None else baseline[chunk_index]
            with torch.no_grad():
                chunk_values = values[chunk_index].to(baseline.dtype)
                actual = adapted.capture(chunk_values, layer)
                base = shared if shared is not None else adapted.capture(chunk_baseline, layer)
            reducers = [t.bind(adapted.module, actual.output) for t in targets]
            if path == "layer":
                with torch.no_grad():  # the target at the path's start, F(a0), in the input's context
                    start_output = (downstream(take_rows(base.activation, local), actual.context)
                                    if downstream.needs_context else take_rows(base.output, local))
                elementwise = layer_path_map(downstream, reducers, actual.activation, base.activation,
                                             actual.context, alphas, weights, batch_size, bar)
            else:
                start_output = take_rows(base.output, local)
                elementwise = conductance_map(adapted, layer, downstream, reducers, chunk_values, chunk_baseline,
                                              (base.activation, actual.activation), method, alphas, weights,
                                              batch_size, bar)
            axis = adapted.channel_axis(layer, actual.activation)
            n_targets = len(targets)
            summed = _sum_space(elementwise, 2, axis, split)
            parts["contribution"].append(summed.reshape(-1, *summed.shape[2:]))
            activation = _sum_space(actual.activation.unsqueeze(1), 2, axis, split)
            parts["activation"].append(np.repeat(activation, n_targets, axis=1).reshape(-1, *activation.shape[2:]))
            parts["target"].append(torch.stack([r(actual.output, local) for r in reducers], 1).cpu().numpy().ravel())
            parts["baseline"].append(torch.stack([r(start_output, local) for r in reducers], 1).cpu().numpy().ravel())
    return tuple(np.concatenate(parts[key]) for key in ("contribution", "activation", "target", "baseline"))
