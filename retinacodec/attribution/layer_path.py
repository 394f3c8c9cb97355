"""Integrated Gradients in a hidden layer's own space: the straight path from a0 to a."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm

from ..models.adapter import Context, Downstream, select_rows
from ..targets import Reducer
from .gradients import per_row, row_batches, take_rows, target_gradients


def layer_path_map(
    downstream: Downstream,
    reducers: Sequence[Reducer],
    activation: torch.Tensor,
    baseline_activation: torch.Tensor,
    context: Context | None,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int,
    bar: tqdm,
) -> torch.Tensor:
    """Elementwise IG contributions of a layer along the straight path in the layer's space.

    Parameters
    ----------
    downstream : Downstream
        The network from the layer to the output.
    reducers : sequence of Reducer
        One per target.
    activation : torch.Tensor
        Layer output at the actual inputs, shape (N, ...).
    baseline_activation : torch.Tensor
        Layer output at the baseline, shape (1, ...) (shared) or (N, ...).
    context : Context or None
        Recorded arguments of the module the downstream part reruns (rows = the N inputs).
    alphas, weights : torch.Tensor
        Quadrature nodes in [0, 1] and weights, shape (n_steps,).
    batch_size : int
        Most rows (network evaluations) per batch.
    bar : tqdm
        Progress bar, advanced by the number of rows done.

    Returns
    -------
    torch.Tensor
        Shape (N, n_targets, ...): the contribution of every element of the layer.

    Notes
    -----
    With :math:`F` the target as a function of the layer output, :math:`a_0` the baseline
    activation, :math:`a` the actual one and :math:`(\\alpha_k, w_k)` the quadrature rule,

    .. math:: c = (a - a_0) \\odot \\sum_k w_k \\, \\nabla F\\big(a_0 + \\alpha_k (a - a_0)\\big)
              \\approx (a - a_0) \\odot \\int_0^1 \\nabla F\\big(a_0 + \\alpha (a - a_0)\\big)\\,d\\alpha,

    so that :math:`\\sum c \\to F(a) - F(a_0)` (completeness in the layer's space). Only the
    downstream part runs per step.
    """
    n_inputs, n_steps = activation.shape[0], alphas.shape[0]
    delta = activation - baseline_activation
    integral = activation.new_zeros((n_inputs, len(reducers), *activation.shape[1:]))
    for input_index, step_index in row_batches(n_inputs, n_steps, batch_size, activation.device):
        start = take_rows(baseline_activation, input_index)
        rows = (start + per_row(alphas[step_index], start) * delta[input_index]).requires_grad_()
        rows_context = (
            select_rows(context, input_index, n_inputs) if downstream.needs_context and context is not None else None
        )
        with torch.enable_grad():
            output = downstream(rows, rows_context)
            gradients = target_gradients(output, reducers, input_index, rows)
        step_weights = per_row(weights[step_index], rows)
        for j, gradient in enumerate(gradients):
            integral[:, j].index_add_(0, input_index, step_weights * gradient)
        bar.update(len(input_index))
    return delta.unsqueeze(1) * integral
