"""Layer conductance: a hidden layer's share of Integrated Gradients along the input path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..models.adapter import AdaptedModel
from ..targets import Reducer
from .gradients import full_output, layer_gradients, per_row, row_batches, take_rows
from .quadrature import node_derivatives


def conductance_maps(
    model: AdaptedModel,
    layers: Sequence[str],
    reducers: Sequence[Reducer],
    points: tuple[torch.Tensor, torch.Tensor],
    ends: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    rule: tuple[str, torch.Tensor, torch.Tensor],
    batch_size: int,
    bar: tqdm,
) -> dict[str, torch.Tensor]:
    """Elementwise conductance of several layers along one straight path in input space.

    Parameters
    ----------
    model : AdaptedModel
        The network.
    layers : sequence of str
        Layer names.
    reducers : sequence of Reducer
        One per target.
    points : tuple of torch.Tensor
        The actual inputs, shape (N, ...), and the baseline input, shape (1, ...) or (N, ...).
    ends : mapping of str to tuple of torch.Tensor
        Per layer, its output at the baseline, (1, ...) or (N, ...), and at the inputs, (N, ...).
    rule : tuple of (str, torch.Tensor, torch.Tensor)
        The quadrature rule's name, its nodes in [0, 1] and its weights, each shape (n_steps,).
    batch_size : int
        Most rows (network evaluations) per batch.
    bar : tqdm
        Progress bar, advanced by the number of rows done.

    Returns
    -------
    dict of str to torch.Tensor
        Per layer, shape (N, n_targets, *layer_shape): the contribution of every element.

    Notes
    -----
    With :math:`x(\\alpha) = x_0 + \\alpha (x - x_0)`, :math:`a(\\alpha)` a layer's output at
    :math:`x(\\alpha)` and :math:`F` the target as a function of that output,

    .. math:: c = \\sum_k w_k \\, \\nabla F\\big(a(\\alpha_k)\\big) \\odot \\hat a'(\\alpha_k)
              \\approx \\int_0^1 \\nabla F\\big(a(\\alpha)\\big) \\odot a'(\\alpha)\\,d\\alpha ,

    where :math:`\\hat a'(\\alpha_k) = \\sum_j D_{kj}\\, a(s_j)` differentiates the layer's path
    through its values at the nodes and at the two ends (see
    :func:`~retinacodec.attribution.quadrature.node_derivatives`). The interpolated inputs are the
    same for every layer, so each node costs one forward pass of the whole network, recording every
    layer's output, and one backward pass per target, from the output down to the first layer,
    that gives the gradient at all of them; the ends are known already. Each rule keeps its order
    of convergence (exactly so where :math:`a` is linear in :math:`\\alpha`); when every path from
    input to output passes through a layer, :math:`\\sum c \\to f(x) - f(x_0)` for that layer.
    Captum's LayerConductance instead multiplies the gradient by differences of :math:`a` between
    consecutive points and ignores the rule's weights, so its error falls as :math:`1/n` at best,
    and it needs :math:`n + 1` passes per layer. Memory: every layer's output at every node of the
    inputs of one call is kept until they are combined; the autograd graph of a batch covers the
    network above the first layer only.
    """
    inputs, baseline = points
    method, alphas, weights = rule
    n_inputs, n_steps = inputs.shape[0], alphas.shape[0]
    nodes = alphas.cpu().numpy()
    support, matrix = node_derivatives(method, nodes)
    node_position = torch.as_tensor(np.searchsorted(support, nodes), device=inputs.device)
    paths, weighted = {}, {}
    for layer in layers:
        start, end = ends[layer]
        paths[layer] = end.new_empty((n_inputs, len(support), *end.shape[1:]))  # a(s_j) of every input
        paths[layer][:, 0], paths[layer][:, -1] = start, end
        weighted[layer] = end.new_zeros((n_inputs, len(reducers), n_steps, *end.shape[1:]))  # w_k grad F_t(a(alpha_k))
    for input_index, step_index in row_batches(n_inputs, n_steps, batch_size, inputs.device):
        origin = take_rows(baseline, input_index)
        interpolated = origin + per_row(alphas[step_index], origin) * (inputs[input_index] - origin)
        with torch.enable_grad():  # the graph starts at the first layer (below it is a constant for the gradients)
            captures = model.capture_layers(interpolated.detach(), list(layers), graph_from_layers=True)
            rows = [captures[layer].activation for layer in layers]
            gradients = layer_gradients(full_output(captures[layers[0]]), reducers, input_index, rows)
        for i, layer in enumerate(layers):
            paths[layer][input_index, node_position[step_index]] = rows[i].detach()
            scale = per_row(weights[step_index], rows[i])
            for j, per_layer in enumerate(gradients):
                weighted[layer][input_index, j, step_index] = scale * per_layer[i]
        bar.update(len(input_index))
    return {layer: _combine(weighted[layer], paths[layer], matrix) for layer in layers}


def _combine(weighted: torch.Tensor, path: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """:math:`\\sum_k w_k \\nabla F(a(\\alpha_k)) \\odot \\sum_j D_{kj} a(s_j)`, (N, n_targets, ...)."""
    derivatives = torch.einsum("ks,ns...->nk...", torch.as_tensor(matrix, dtype=path.dtype, device=path.device), path)
    return (weighted * derivatives.unsqueeze(1)).sum(2)
