"""Contribution maps: what in the input drives a target through each mode's channels.

Built on the machinery they share with the instantaneous receptive fields: each mode's share of
each channel (:mod:`retinacodec.modes.selection`) and the input gradient routed through a hidden
layer channel by channel (:mod:`retinacodec.attribution.routed`).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from .._progress import progress_bar
from .._validation import check_int
from ..attribution.inputs import prepare_inputs
from ..attribution.options import AttributionOptions, checked_options
from ..attribution.routed import check_layer_channels, path_rule, routed_gradients
from ..device import evaluating, resolve_device
from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, adapt
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import (
    mode_loadings,
    modes_layer,
    selected_mode_positions,
    shares_tensor,
)
from ..targets import Target, as_target
from .selection import ModeSelection


def contribution_maps(
    model: nn.Module | AdaptedModel,
    images,
    modes: ModeSelection | Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray,
    target: Target | str = "top",
    *,
    method: str = "gradient",
    n_steps: int = 20,
    baseline="zero",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    options: AttributionOptions | None = None,
) -> xr.DataArray:
    """Per-mode input-space maps of what drives a target through the mode's channels.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        An image model (put in eval mode for the call).
    images : torch.Tensor, numpy.ndarray or xarray.DataArray
        (image, colour, y, x) model-ready inputs (preprocessed as the model expects).
    modes : ModeSelection, Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray
        Anything :meth:`~retinacodec.modes.result.Modes.coerce` takes: with an SAE, loadings from
        each image's contributions; a modes Dataset or a dictionary (mode, channel) has every mode
        loading 1 (see :func:`~retinacodec.modes.selection.channel_weights`): every mode, at the
        layer the modes record. A :class:`~retinacodec.receptive_fields.selection.ModeSelection`
        maps some of the modes (shares still count every mode) or names the layer.
    target : Target or str
        What to explain (default the top logit, its class fixed at the image).
    method : {"gradient", "ig"}
        Gradient x input, or Integrated Gradients along the straight path from ``baseline``.
    n_steps : int
        Quadrature nodes for ``"ig"`` (and the contributions behind an SAE's loadings when the
        modes do not record theirs).
    baseline : {"zero", "mean"} or array
        IG start (see :func:`retinacodec.contributions`); also the baseline of the loadings.
    batch_size : int
        Network evaluations (image x path node) per forward pass.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    options : AttributionOptions, optional
        The rarely-set knobs: ``quadrature`` (the rule of ``"ig"`` and of the loadings'
        contributions) and ``progress`` (a bar over batches); see
        :class:`~retinacodec.attribution.options.AttributionOptions`.

    Returns
    -------
    xarray.DataArray
        ``contribution_map`` (image, mode, y, x) in units of the target, summed over colour
        channels; attrs: package version, model, layer, target, method, n_steps, quadrature rule.

    Raises
    ------
    RetinaCodecError
        For images not shaped (image, colour, y, x), an unknown layer, target or method, modes of
        another layer or channel count, bad selected modes, or options that this function does not
        use.

    Notes
    -----
    With :math:`s_{mc}` the share of channel :math:`c` in mode :math:`m`
    (:func:`~retinacodec.modes.selection.channel_shares`),
    the mode's input sensitivity is :math:`A^{(m)} = \\sum_c s_{mc} J_{y,h_c} J_{h_c,x}`
    (:func:`~retinacodec.attribution.routed.routed_gradients`), and the map is

    .. math:: C^{(m)}_{ij} = \\sum_{\\text{colour}} A^{(m)} \\odot x \\quad \\text{("gradient")},
              \\qquad \\sum_{\\text{colour}} \\bar A^{(m)} \\odot (x - x_0) \\quad \\text{("ig")},

    with :math:`\\bar A` averaged along the path. Modes whose shares cover every channel with
    weight 1 give maps that add up to the whole gradient x input (or IG) map when every path from
    input to output passes through the layer.
    """
    options = checked_options(options, "contribution_maps", ("quadrature", "progress"))
    adapted = adapt(model)
    selection = ModeSelection.of(modes)
    modes = Modes.coerce(selection.modes)
    weights = modes.channel_weights()
    layer = modes_layer(weights, selection.layer, adapted)
    selected = selected_mode_positions(weights, selection.positions)
    alphas, nodes_weights = path_rule(method, n_steps, options.quadrature)
    batch_size = check_int("batch_size", batch_size)
    target = as_target(target)
    device = resolve_device(device)
    with evaluating(adapted.module, device) as dtype:
        prepared = prepare_inputs(adapted.module, images, baseline, dtype, device)
        values = prepared.values
        if values.ndim != 4:
            raise RetinaCodecError(f"images have shape {tuple(values.shape)}; expected (image, colour, y, x)")
        with torch.no_grad():
            check_layer_channels(
                adapted, layer, adapted.capture(values[:1], layer).activation, weights.sizes["channel"]
            )
        maps = np.empty((values.shape[0], len(selected), *values.shape[2:]), dtype=np.float32)
        per_chunk = max(1, batch_size // len(alphas))
        for start in progress_bar(
            range(0, values.shape[0], per_chunk), desc="contribution maps", unit="batch", progress=options.progress
        ):
            rows = slice(start, start + per_chunk)
            batch = values[rows]
            start_point = prepared.baseline if prepared.baseline.shape[0] == 1 else prepared.baseline[rows]
            with torch.no_grad():
                reducer = target.bind(adapted.module, adapted(batch))
            if modes.has_encoder:
                loadings = mode_loadings(
                    adapted, layer, modes, batch, start_point, [target], options.quadrature, n_steps, batch_size, device
                )
            else:
                loadings = None
            shares = shares_tensor(weights.values, loadings, selected, (1, batch.shape[0]), dtype, device)
            _, routed = routed_gradients(
                adapted, batch, start_point, [reducer], alphas, nodes_weights, batch_size, layer, shares
            )
            assert routed is not None  # given shares, routed_gradients routes
            displacement = batch if method == "gradient" else batch - start_point
            maps[rows] = (routed[0] * displacement.unsqueeze(1)).sum(2).detach().cpu().numpy()
    result = xr.DataArray(
        maps,
        dims=("image", "mode", "y", "x"),
        coords={
            "image": prepared.coord,
            "mode": weights["mode"].values[selected],
            "y": np.arange(maps.shape[2]),
            "x": np.arange(maps.shape[3]),
        },
        name="contribution_map",
        attrs={
            "retinacodec_version": __version__,
            "model": type(adapted.module).__name__,
            "layer": str(layer),
            "target": str(target),
            "method": method,
            "n_steps": int(len(alphas)),
            "quadrature": "none" if method == "gradient" else options.quadrature,
            "loadings": "SAE" if modes.has_encoder else "static (all modes loading 1)",
            "units": "target units (e.g. logit) per pixel",
        },
    )
    return result
