"""Layer conductance: a hidden layer's share of Integrated Gradients along the input path."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..models.adapter import AdaptedModel, Downstream
from ..targets import Reducer
from .gradients import per_row, row_batches, take_rows, target_gradients
from .quadrature import node_derivatives


def conductance_map(
    model: AdaptedModel,
    layer: str,
    downstream: Downstream,
    reducers: Sequence[Reducer],
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    ends: tuple[torch.Tensor, torch.Tensor],
    method: str,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int,
    bar: tqdm,
) -> torch.Tensor:
    """Elementwise conductance of a layer along the straight path in input space.

    Parameters
    ----------
    model : AdaptedModel
        The network.
    layer : str
        Layer name.
    downstream : Downstream
        The network from ``layer`` to the output.
    reducers : sequence of Reducer
        One per target.
    inputs : torch.Tensor
        Actual inputs, shape (N, ...).
    baseline : torch.Tensor
        Baseline input, shape (1, ...) or (N, ...).
    ends : tuple of torch.Tensor
        The layer output at the baseline, (1, ...) or (N, ...), and at ``inputs``, (N, ...).
    method : str
        The quadrature rule that gave ``alphas`` and ``weights``.
    alphas, weights : torch.Tensor
        Quadrature nodes in [0, 1] and weights, shape (n_steps,).
    batch_size : int
        Most rows (network evaluations) per batch.
    bar : tqdm
        Progress bar, advanced by the number of rows done.

    Returns
    -------
    torch.Tensor
        Shape (N, n_targets, *layer_shape): the contribution of every element of the layer.

    Notes
    -----
    With :math:`x(\\alpha) = x_0 + \\alpha (x - x_0)`, :math:`a(\\alpha)` the layer output at
    :math:`x(\\alpha)` and :math:`F` the target as a function of the layer output,

    .. math:: c = \\sum_k w_k \\, \\nabla F\\big(a(\\alpha_k)\\big) \\odot \\hat a'(\\alpha_k)
              \\approx \\int_0^1 \\nabla F\\big(a(\\alpha)\\big) \\odot a'(\\alpha)\\,d\\alpha ,

    where :math:`\\hat a'(\\alpha_k) = \\sum_j D_{kj}\\, a(s_j)` differentiates the layer's path
    through its values at the nodes and at the two ends (see
    :func:`~retinacodec.attribution.quadrature.node_derivatives`). Each node costs one forward
    pass and one backward pass of the network above the layer, the ends are known already, and
    each rule keeps its order of convergence (exactly so where :math:`a` is linear in
    :math:`\\alpha`); when every path from input to output passes through the layer,
    :math:`\\sum c \\to f(x) - f(x_0)`. Captum's LayerConductance instead multiplies the gradient
    by differences of :math:`a` between consecutive points and ignores the rule's weights, so its
    error falls as :math:`1/n` at best, and it needs :math:`n + 1` passes. Memory: the layer's
    output at every node of the inputs of one call is kept until they are combined.
    """
    n_inputs, n_steps = inputs.shape[0], alphas.shape[0]
    nodes = alphas.cpu().numpy()
    support, matrix = node_derivatives(method, nodes)
    node_position = torch.as_tensor(np.searchsorted(support, nodes), device=inputs.device)
    start, end = ends
    path = end.new_empty((n_inputs, len(support), *end.shape[1:]))  # a(s_j) of every input
    path[:, 0], path[:, -1] = start, end
    weighted = end.new_zeros((n_inputs, len(reducers), n_steps, *end.shape[1:]))  # w_k grad F_t(a(alpha_k))
    for input_index, step_index in row_batches(n_inputs, n_steps, batch_size, inputs.device):
        origin = take_rows(baseline, input_index)
        points = origin + per_row(alphas[step_index], origin) * (inputs[input_index] - origin)
        with torch.no_grad():
            capture = model.capture(points, layer, stop=True)
        rows = capture.activation.detach().requires_grad_()
        path[input_index, node_position[step_index]] = rows.detach()
        with torch.enable_grad():
            gradients = target_gradients(downstream(rows, capture.context), reducers, input_index, rows)
        scale = per_row(weights[step_index], rows)
        for j, gradient in enumerate(gradients):
            weighted[input_index, j, step_index] = scale * gradient
        bar.update(len(input_index))
    derivatives = torch.einsum("ks,ns...->nk...", torch.as_tensor(matrix, dtype=end.dtype, device=end.device), path)
    return (weighted * derivatives.unsqueeze(1)).sum(2)
