"""Contribution maps: what in the input drives a target through each mode's channels.

Also home of the machinery the instantaneous receptive fields (:mod:`retinacodec.receptive_fields`)
share with the maps: each mode's share of each channel (:func:`channel_shares`), the SAE loadings
of a batch of inputs (:func:`mode_loadings`), and the input gradient of a target routed through one
hidden layer channel by channel (:func:`routed_gradients`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from . import __version__
from .attribution.ig import contributions
from .device import evaluating, resolve_device
from .attribution.gradients import per_row, row_batches, take_rows
from .attribution.inputs import prepare_inputs
from .attribution.quadrature import quadrature
from .errors import RetinaCodecError
from .models.adapter import AdaptedModel, adapt
from .modes.sae import SAE
from .targets import Reducer, Target, as_target

METHODS = ("gradient", "ig")
"""How input gradients are taken: at the input itself, or averaged along the straight path from
a baseline (Integrated Gradients)."""


def channel_weights(modes: SAE | xr.DataArray | np.ndarray) -> xr.DataArray:
    """The non-negative weight of every channel in every mode.

    Parameters
    ----------
    modes : SAE, xarray.DataArray or numpy.ndarray
        A fitted :class:`~retinacodec.modes.SAE` (its ``modes_``), or a dictionary with dims
        (mode, channel), (mode, feature) where ``feature`` stacks (channel, sign) as an SAE fitted
        on split-sign contributions has it, or (mode, channel, sign); an array is (mode, channel).

    Returns
    -------
    xarray.DataArray
        float64 (mode, channel), :math:`W_{mc} = \\sum_s |d_{mcs}|` (the sum over signs of the
        magnitudes of the dictionary entries), with coords mode and channel (0, 1, ... when the
        input has none) and the dictionary's attrs (``layer`` among them when it was fitted on
        labeled contributions).

    Raises
    ------
    RetinaCodecError
        For an unfitted SAE, other dims, or non-finite entries.
    """
    if isinstance(modes, SAE):
        if not hasattr(modes, "modes_"):
            raise RetinaCodecError("the SAE is not fitted; expected a fitted SAE (call fit first) or its modes_")
        modes = modes.modes_
    if not isinstance(modes, xr.DataArray):
        values = np.asarray(modes, dtype=float)
        if values.ndim != 2:
            raise RetinaCodecError(f"modes have shape {values.shape}; expected a 2-D array (mode, channel)")
        modes = xr.DataArray(values, dims=("mode", "channel"))
    if "feature" in modes.dims:
        modes = modes.unstack("feature")
    if set(modes.dims) not in ({"mode", "channel"}, {"mode", "channel", "sign"}):
        raise RetinaCodecError(
            f"modes have dims {modes.dims}; expected (mode, channel), (mode, feature) with feature = "
            "(channel, sign), or (mode, channel, sign)"
        )
    weights = np.abs(modes.astype(float))
    if "sign" in weights.dims:
        weights = weights.sum("sign")
    weights = weights.transpose("mode", "channel")
    if not np.isfinite(weights.values).all():
        raise RetinaCodecError("modes hold NaN or infinite values; expected a finite dictionary")
    for dim in ("mode", "channel"):
        if dim not in weights.coords:
            weights = weights.assign_coords({dim: np.arange(weights.sizes[dim])})
    return weights.assign_attrs(modes.attrs).rename("channel_weight")


def modes_layer(weights: xr.DataArray, layer: str | None, model: AdaptedModel) -> str:
    """The layer a decomposition uses: ``layer``, else the one the modes record; checked to agree.

    Parameters
    ----------
    weights : xarray.DataArray
        (mode, channel) from :func:`channel_weights`; its ``layer`` attr, when present, names the
        layer the modes were fitted on.
    layer : str or None
        The layer asked for.
    model : AdaptedModel
        Resolves names and aliases.

    Returns
    -------
    str
        The layer name (as given, or as recorded in the modes).

    Raises
    ------
    RetinaCodecError
        If neither names a layer, a name is unknown, or the two name different layers.
    """
    recorded = weights.attrs.get("layer")
    if layer is None and recorded is None:
        raise RetinaCodecError("the modes do not record their layer; expected layer= naming the layer they were fitted on")
    if layer is not None and recorded is not None and model.resolve(layer) != model.resolve(str(recorded)):
        raise RetinaCodecError(
            f"the modes were fitted on layer {recorded!r}, not {layer!r}; expected modes of the layer "
            "being decomposed"
        )
    chosen = str(recorded) if layer is None else layer
    model.resolve(chosen)
    return chosen


def check_layer_channels(model: AdaptedModel, layer: str, activation: torch.Tensor, n_channels: int) -> int:
    """The channel axis of ``layer``'s output ``activation``, checked to hold ``n_channels`` channels.

    Raises
    ------
    RetinaCodecError
        If the layer has another number of channels than the modes.
    """
    axis = model.channel_axis(layer, activation)
    if activation.shape[axis] != n_channels:
        raise RetinaCodecError(
            f"the modes have {n_channels} channels but layer {layer!r} outputs {activation.shape[axis]}; "
            "expected modes fitted on this layer"
        )
    return axis


def selected_mode_positions(weights: xr.DataArray, selected_modes: Sequence[int] | None) -> np.ndarray:
    """Positions along ``mode`` to decompose into (all when None), checked to be in range."""
    n_modes = weights.sizes["mode"]
    if selected_modes is None:
        return np.arange(n_modes)
    positions = np.asarray(selected_modes).ravel()
    if positions.size == 0 or not np.issubdtype(positions.dtype, np.integer) or positions.min() < 0 \
            or positions.max() >= n_modes or len(np.unique(positions)) != positions.size:
        raise RetinaCodecError(
            f"selected_modes is {list(np.asarray(selected_modes).ravel())}; expected distinct mode "
            f"positions in 0..{n_modes - 1}"
        )
    return positions


def channel_shares(weights: np.ndarray, loadings: np.ndarray | None, selected: np.ndarray) -> np.ndarray:
    """Each selected mode's share of each channel, per sample.

    Parameters
    ----------
    weights : numpy.ndarray
        (mode, channel) non-negative channel weights :math:`W` (:func:`channel_weights`).
    loadings : numpy.ndarray or None
        (sample, mode) SAE loadings :math:`z`; None gives every mode a loading of 1 (a static
        split of each channel between the modes that use it).
    selected : numpy.ndarray
        Positions of the modes wanted, (k,).

    Returns
    -------
    numpy.ndarray
        float32 (sample, k, channel) shares :math:`s_{mc}`; 1 sample when ``loadings`` is None.

    Notes
    -----
    The SAE reconstructs a sample's contribution of channel :math:`c` as
    :math:`\\sum_m z_m d_{mc}`; mode :math:`m`'s part of it has magnitude :math:`|z_m| W_{mc}`, so

    .. math:: s_{mc} = \\frac{|z_m| W_{mc}}{\\sum_{m'} |z_{m'}| W_{m'c}},

    and :math:`s_{mc} = 0` for a channel that no active mode uses. Over all modes the shares of a
    channel sum to 1 (or 0), so the per-mode parts of anything linear in the channels add up to
    the whole minus the part through channels no active mode uses.
    """
    z = np.ones((1, weights.shape[0])) if loadings is None else np.abs(np.asarray(loadings, dtype=float))
    total = z @ weights
    part = z[:, selected, None] * weights[None, selected]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total[:, None] > 0, part / total[:, None], 0.0)
    return shares.astype(np.float32)


def shares_tensor(
    weights: np.ndarray,
    loadings: np.ndarray | None,
    selected: np.ndarray,
    shape: tuple[int, int],
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """:func:`channel_shares` for T targets and N inputs, as the tensor :func:`routed_gradients` takes.

    Parameters
    ----------
    weights : numpy.ndarray
        (mode, channel) channel weights.
    loadings : numpy.ndarray or None
        (T, N, mode) loadings, or None for the static split.
    selected : numpy.ndarray
        Positions of the modes wanted, (k,).
    shape : tuple of int
        (T, N).
    dtype, device
        Of the result.

    Returns
    -------
    torch.Tensor
        (T, N, k, channel) shares.
    """
    if loadings is None:
        shares = torch.as_tensor(channel_shares(weights, None, selected), dtype=dtype, device=device)
        return shares.unsqueeze(0).expand(*shape, *shares.shape[1:])
    stacked = np.stack([channel_shares(weights, per_target, selected) for per_target in loadings])
    return torch.as_tensor(stacked, dtype=dtype, device=device)


def mode_loadings(
    model: AdaptedModel,
    layer: str,
    sae: SAE,
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    targets: Sequence[Target],
    quadrature_rule: str,
    n_steps: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """SAE loadings of every (target, input) pair, from the inputs' contributions at ``layer``.

    Parameters
    ----------
    model : AdaptedModel
        The network.
    layer : str
        The layer the SAE was fitted on.
    sae : SAE
        Fitted; its ``variable`` picks contributions or activations, its input's sign split is
        reproduced.
    inputs, baseline : torch.Tensor
        Model inputs (N, ...) and the IG baseline (1, ...) or (N, ...).
    targets : sequence of Target
        One per output of interest (T of them).
    quadrature_rule : str
        Quadrature rule of the contributions.
    n_steps : int
        Quadrature nodes of the contributions when the SAE's modes do not record theirs (the
        recorded ``n_steps`` and ``path`` are used when present; the path defaults to ``"layer"``).
    batch_size : int
        Network evaluations per batch of :func:`~retinacodec.attribution.ig.contributions`.
    device : torch.device
        Where to compute.

    Returns
    -------
    numpy.ndarray
        (T, N, mode) loadings.
    """
    attrs = sae.modes_.attrs if isinstance(sae.modes_, xr.DataArray) else {}
    split = "sign" if isinstance(sae.modes_, xr.DataArray) and "feature" in sae.modes_.dims else None
    found = contributions(model, inputs, layer, list(targets), path=str(attrs.get("path", "layer")),
                          baseline=baseline, n_steps=int(attrs.get("n_steps", n_steps)), method=quadrature_rule,
                          split=split, batch_size=batch_size, device=device, progress=False)
    loadings = np.asarray(sae.transform(found), dtype=float)
    return loadings.reshape(len(inputs), len(targets), -1).transpose(1, 0, 2)


def _along_channels(shares: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
    """(N, k, C) shares as (k, N, 1.., C, 1..) with C on ``axis`` of an (N, ...) layer output."""
    shape = [1] * ndim
    shape[0], shape[axis] = shares.shape[0], shares.shape[2]
    return shares.transpose(0, 1).reshape(shares.shape[1], *shape)


def routed_gradients(
    model: AdaptedModel,
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    reducers: Sequence[Reducer],
    alphas: np.ndarray,
    weights: np.ndarray,
    batch_size: int,
    layer: str | None = None,
    shares: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Input gradients of targets, whole and routed through a layer's channels mode by mode.

    Parameters
    ----------
    model : AdaptedModel
        The network, in eval mode (rows must not interact).
    inputs : torch.Tensor
        (N, ...) model inputs.
    baseline : torch.Tensor
        (1, ...) or (N, ...) start of the straight path (unused when ``alphas`` is ``[1]``).
    reducers : sequence of Reducer
        T targets, bound to the model output at ``inputs`` (:meth:`Target.bind`).
    alphas, weights : numpy.ndarray
        Quadrature nodes in [0, 1] and weights (n_steps,); ``[1], [1]`` gives the plain gradient.
    batch_size : int
        Most (input, node) rows per forward pass; memory grows with it times (1 + k) per target.
    layer : str, optional
        Hidden layer to route through; needed with ``shares``.
    shares : torch.Tensor, optional
        (T, N, k, C) weight of channel ``c`` in routed part ``k`` (:func:`shares_tensor`).

    Returns
    -------
    total : torch.Tensor
        (T, N, ...) :math:`\\bar g = \\sum_j w_j \\nabla_x f(x_0 + \\alpha_j (x - x_0))`.
    routed : torch.Tensor or None
        (T, N, k, ...) the same with the backward pass through the layer weighted by the shares.

    Raises
    ------
    RetinaCodecError
        If the shares' channel count differs from the layer's.

    Notes
    -----
    With :math:`h` the layer output, the chain rule makes the gradient through the layer a sum over
    its channels, :math:`\\nabla_x f = \\sum_c J_{f,h_c} J_{h_c,x}` (plus any path that bypasses the
    layer). The routed part :math:`k` is :math:`\\sum_c s_{kc} J_{f,h_c} J_{h_c,x}`: the layer's
    output gradient is computed once, scaled channel-wise by the shares and pulled back to the
    input by one batched vector-Jacobian product for all :math:`k`.
    """
    alphas_t = torch.as_tensor(alphas, dtype=inputs.dtype, device=inputs.device)
    weights_t = torch.as_tensor(weights, dtype=inputs.dtype, device=inputs.device)
    total = inputs.new_zeros((len(reducers), *inputs.shape))
    routed = None if shares is None else inputs.new_zeros(
        (len(reducers), inputs.shape[0], shares.shape[2], *inputs.shape[1:]))
    for input_index, step_index in row_batches(inputs.shape[0], len(alphas), batch_size):
        input_index, step_index = input_index.to(inputs.device), step_index.to(inputs.device)
        start = take_rows(baseline, input_index)
        point = (start + per_row(alphas_t[step_index], start) * (inputs[input_index] - start)).detach()
        point.requires_grad_(True)
        step_weights = per_row(weights_t[step_index], point)
        with torch.enable_grad():
            if shares is None:
                output, hidden = model.module(point), None
            else:
                captured = model.capture(point, layer)
                output, hidden = captured.output, captured.activation
                axis = check_layer_channels(model, layer, hidden, shares.shape[-1])
            for t, reducer in enumerate(reducers):
                value = reducer(output, input_index).sum()
                if hidden is None:
                    (gradient,) = torch.autograd.grad(value, point, retain_graph=True)
                else:
                    gradient, outer = torch.autograd.grad(value, (point, hidden), retain_graph=True)
                    row_shares = shares[t].index_select(0, input_index)
                    cotangents = outer.unsqueeze(0) * _along_channels(row_shares, axis, hidden.ndim)
                    (parts,) = torch.autograd.grad(hidden, point, cotangents, retain_graph=True,
                                                   is_grads_batched=True)
                    routed[t].index_add_(0, input_index, step_weights.unsqueeze(1) * parts.transpose(0, 1))
                total[t].index_add_(0, input_index, step_weights * gradient)
    return total, routed


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is a positive integer, else a RetinaCodecError."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise RetinaCodecError(f"batch_size is {batch_size!r}; expected a positive integer")
    return int(batch_size)


def path_rule(method: str, n_steps: int, quadrature_rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the input gradient: ``[1], [1]`` for ``"gradient"``, the quadrature
    rule for ``"ig"``."""
    if method not in METHODS:
        raise RetinaCodecError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "gradient":
        return np.ones(1), np.ones(1)
    return quadrature(quadrature_rule, n_steps)


def contribution_maps(
    model: nn.Module | AdaptedModel,
    images,
    layer: str | None,
    modes: SAE | xr.DataArray | np.ndarray,
    target: Target | str = "top",
    method: str = "gradient",
    n_steps: int = 20,
    quadrature_rule: str = "gausslegendre",
    baseline="zero",
    selected_modes: Sequence[int] | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> xr.DataArray:
    """Per-mode input-space maps of what drives a target through the mode's channels.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        An image model (put in eval mode for the call).
    images : torch.Tensor, numpy.ndarray or xarray.DataArray
        (image, colour, y, x) model-ready inputs (preprocessed as the model expects).
    layer : str or None
        Hidden layer of the modes; None takes the layer the modes record.
    modes : SAE, xarray.DataArray or numpy.ndarray
        A fitted SAE (loadings from each image's contributions) or a dictionary (mode, channel)
        (every mode loading 1); see :func:`channel_weights`.
    target : Target or str
        What to explain (default the top logit, its class fixed at the image).
    method : {"gradient", "ig"}
        Gradient x input, or Integrated Gradients along the straight path from ``baseline``.
    n_steps : int
        Quadrature nodes for ``"ig"`` (and the contributions behind an SAE's loadings when the
        modes do not record theirs).
    quadrature_rule : str
        One of :data:`retinacodec.attribution.quadrature.METHODS`.
    baseline : {"zero", "mean"} or array
        IG start (see :func:`retinacodec.contributions`); also the baseline of the loadings.
    selected_modes : sequence of int, optional
        Positions of the modes to map (all by default; shares still count every mode).
    batch_size : int
        Network evaluations (image x path node) per forward pass.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    progress : bool
        Show a progress bar over batches.

    Returns
    -------
    xarray.DataArray
        ``contribution_map`` (image, mode, y, x) in units of the target, summed over colour
        channels; attrs: package version, model, layer, target, method, n_steps, quadrature rule.

    Raises
    ------
    RetinaCodecError
        For images not shaped (image, colour, y, x), an unknown layer, target or method, modes of
        another layer or channel count, or bad selected modes.

    Notes
    -----
    With :math:`s_{mc}` the share of channel :math:`c` in mode :math:`m` (:func:`channel_shares`),
    the mode's input sensitivity is :math:`A^{(m)} = \\sum_c s_{mc} J_{y,h_c} J_{h_c,x}`
    (:func:`routed_gradients`), and the map is

    .. math:: C^{(m)}_{ij} = \\sum_{\\text{colour}} A^{(m)} \\odot x \\quad \\text{("gradient")},
              \\qquad \\sum_{\\text{colour}} \\bar A^{(m)} \\odot (x - x_0) \\quad \\text{("ig")},

    with :math:`\\bar A` averaged along the path. Modes whose shares cover every channel with
    weight 1 give maps that add up to the whole gradient x input (or IG) map when every path from
    input to output passes through the layer.
    """
    adapted = adapt(model)
    weights = channel_weights(modes)
    layer = modes_layer(weights, layer, adapted)
    selected = selected_mode_positions(weights, selected_modes)
    alphas, nodes_weights = path_rule(method, n_steps, quadrature_rule)
    batch_size = check_batch_size(batch_size)
    target = as_target(target)
    device = resolve_device(device)
    with evaluating(adapted.module, device) as dtype:
        prepared = prepare_inputs(adapted.module, images, baseline, dtype, device)
        values = prepared.values
        if values.ndim != 4:
            raise RetinaCodecError(f"images have shape {tuple(values.shape)}; expected (image, colour, y, x)")
        with torch.no_grad():
            check_layer_channels(adapted, layer, adapted.capture(values[:1], layer).activation, weights.sizes["channel"])
        maps = np.empty((values.shape[0], len(selected), *values.shape[2:]), dtype=np.float32)
        per_chunk = max(1, batch_size // len(alphas))
        for start in tqdm(range(0, values.shape[0], per_chunk), desc="contribution maps", unit="batch",
                          disable=not progress):
            rows = slice(start, start + per_chunk)
            batch = values[rows]
            start_point = prepared.baseline if prepared.baseline.shape[0] == 1 else prepared.baseline[rows]
            with torch.no_grad():
                reducer = target.bind(adapted.module, adapted.module(batch))
            if isinstance(modes, SAE):
                loadings = mode_loadings(adapted, layer, modes, batch, start_point, [target], quadrature_rule,
                                         n_steps, batch_size, device)
            else:
                loadings = None
            shares = shares_tensor(weights.values, loadings, selected, (1, batch.shape[0]), dtype, device)
            _, routed = routed_gradients(adapted, batch, start_point, [reducer], alphas, nodes_weights,
                                         batch_size, layer, shares)
            displacement = batch if method == "gradient" else batch - start_point
            maps[rows] = (routed[0] * displacement.unsqueeze(1)).sum(2).detach().cpu().numpy()
    result = xr.DataArray(
        maps,
        dims=("image", "mode", "y", "x"),
        coords={"image": prepared.coord, "mode": weights["mode"].values[selected],
                "y": np.arange(maps.shape[2]), "x": np.arange(maps.shape[3])},
        name="contribution_map",
        attrs={
            "retinacodec_version": __version__,
            "model": type(adapted.module).__name__,
            "layer": str(layer),
            "target": str(target),
            "method": method,
            "n_steps": int(len(alphas)),
            "quadrature": "none" if method == "gradient" else quadrature_rule,
            "loadings": "SAE" if isinstance(modes, SAE) else "static (all modes loading 1)",
            "units": "target units (e.g. logit) per pixel",
        },
    )
    return result
