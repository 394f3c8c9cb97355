"""Input gradients of a target routed through a hidden layer's channels, part by part.

The chain rule splits the gradient through a layer into a sum over its channels; weighting that
sum by each mode's share of each channel gives each mode's part of the input gradient, the
engine of contribution maps and of instantaneous receptive fields by mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel
from ..targets import Reducer
from .gradients import full_output, per_row, row_batches, take_rows
from .quadrature import quadrature

METHODS = ("gradient", "ig")
"""How input gradients are taken: at the input itself, or averaged along the straight path from
a baseline (Integrated Gradients)."""


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
    if shares is not None and layer is None:
        raise RetinaCodecError("shares given without the layer they route through; expected layer= with shares=")
    alphas_t = torch.as_tensor(alphas, dtype=inputs.dtype, device=inputs.device)
    weights_t = torch.as_tensor(weights, dtype=inputs.dtype, device=inputs.device)
    total = inputs.new_zeros((len(reducers), *inputs.shape))
    routed = (
        None
        if shares is None
        else inputs.new_zeros((len(reducers), inputs.shape[0], shares.shape[2], *inputs.shape[1:]))
    )
    for input_index, step_index in row_batches(inputs.shape[0], len(alphas), batch_size):
        input_index, step_index = input_index.to(inputs.device), step_index.to(inputs.device)
        start = take_rows(baseline, input_index)
        point = (start + per_row(alphas_t[step_index], start) * (inputs[input_index] - start)).detach()
        point.requires_grad_(True)
        step_weights = per_row(weights_t[step_index], point)
        with torch.enable_grad():
            if shares is None:
                output, hidden = model(point), None
            else:
                assert layer is not None  # checked above
                captured = model.capture(point, layer)
                output, hidden = full_output(captured), captured.activation
                axis = check_layer_channels(model, layer, hidden, shares.shape[-1])
            for t, reducer in enumerate(reducers):
                value = reducer(output, input_index).sum()
                if hidden is None:
                    (gradient,) = torch.autograd.grad(value, point, retain_graph=True)
                else:
                    assert shares is not None and routed is not None  # hidden is captured only with shares
                    gradient, outer = torch.autograd.grad(value, (point, hidden), retain_graph=True)
                    row_shares = shares[t].index_select(0, input_index)
                    cotangents = outer.unsqueeze(0) * _along_channels(row_shares, axis, hidden.ndim)
                    (parts,) = torch.autograd.grad(hidden, point, cotangents, retain_graph=True, is_grads_batched=True)
                    routed[t].index_add_(0, input_index, step_weights.unsqueeze(1) * parts.transpose(0, 1))
                total[t].index_add_(0, input_index, step_weights * gradient)
    return total, routed


def path_rule(method: str, n_steps: int, quadrature_rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the input gradient: ``[1], [1]`` for ``"gradient"``, the quadrature
    rule for ``"ig"``."""
    if method not in METHODS:
        raise RetinaCodecError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "gradient":
        return np.ones(1), np.ones(1)
    return quadrature(quadrature_rule, n_steps)
