"""Layer conductance: a hidden layer's share of Integrated Gradients along the input path."""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.autograd.forward_ad as forward_ad
from tqdm import tqdm

from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, Context, Downstream, map_context
from ..targets import Reducer
from .gradients import per_row, row_batches, take_rows, target_gradients
from .tangents import forward_mode


def _activation_and_tangent(model: AdaptedModel, layer: str, points: torch.Tensor, direction: torch.Tensor,
                            with_context: bool) -> tuple[torch.Tensor, torch.Tensor, Context | None]:
    """Layer output at ``points`` and its derivative along ``direction`` (one forward-mode pass).

    Returns the activation (rows, ...), its tangent (same shape), and the recorded context of the
    downstream part without tangents (None unless ``with_context``).
    """
    with torch.no_grad(), forward_ad.dual_level(), forward_mode(model.module), warnings.catch_warnings():
        # torch loads its forward-mode decompositions with the deprecated torch.jit.script
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        try:
            capture = model.capture(forward_ad.make_dual(points, direction), layer, stop=True)
        except NotImplementedError as exc:
            raise RetinaCodecError(
                f"path='input' needs forward-mode derivatives of every operation below layer "
                f"{layer!r}, and one has none ({str(exc).splitlines()[0]}); use path='layer'"
            ) from None
        activation, tangent = forward_ad.unpack_dual(capture.activation)
        context = map_context(capture.context, lambda t: forward_ad.unpack_dual(t).primal) if with_context else None
    return activation, torch.zeros_like(activation) if tangent is None else tangent, context


def conductance_map(
    model: AdaptedModel,
    layer: str,
    downstream: Downstream,
    reducers: Sequence[Reducer],
    inputs: torch.Tensor,
    baseline: torch.Tensor,
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

    .. math:: c = \\sum_k w_k \\, \\nabla F\\big(a(\\alpha_k)\\big) \\odot a'(\\alpha_k)
              \\approx \\int_0^1 \\nabla F\\big(a(\\alpha)\\big) \\odot a'(\\alpha)\\,d\\alpha .

    :math:`a'(\\alpha_k) = J_a(x(\\alpha_k))\\,(x - x_0)` is computed exactly by forward-mode
    differentiation (a Jacobian-vector product, see :mod:`.tangents`), so each rule converges at
    its own rate; when every path from input to output passes through the layer, :math:`\\sum c \\to f(x) - f(x_0)`.
    (Captum's LayerConductance instead multiplies the gradient by differences of :math:`a` between
    consecutive nodes and ignores the rule's weights, so its error falls as :math:`1/n` at best.)
    """
    n_inputs, n_steps = inputs.shape[0], alphas.shape[0]
    result = None
    for input_index, step_index in row_batches(n_inputs, n_steps, batch_size, inputs.device):
        start = take_rows(baseline, input_index)
        direction = inputs[input_index] - start
        points = start + per_row(alphas[step_index], start) * direction
        activation, tangent, context = _activation_and_tangent(model, layer, points, direction,
                                                               downstream.needs_context)
        if result is None:
            result = activation.new_zeros((n_inputs, len(reducers), *activation.shape[1:]))
        rows = activation.detach().requires_grad_()
        with torch.enable_grad():
            gradients = target_gradients(downstream(rows, context), reducers, input_index, rows)
        scale = per_row(weights[step_index], rows) * tangent
        for j, gradient in enumerate(gradients):
            result[:, j].index_add_(0, input_index, scale * gradient)
        bar.update(len(input_index))
    return result
