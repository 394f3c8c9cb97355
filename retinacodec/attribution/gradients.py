"""Shared gradient utilities: batches of (input, step) rows and target gradients at a hidden layer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..errors import RetinaCodecError
from ..models.adapter import Capture
from ..targets import Reducer


def row_batches(
    n_inputs: int, n_steps: int, batch_size: int, device: torch.device | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Split the ``n_inputs * n_steps`` (input, step) rows into batches of at most ``batch_size``.

    The indices live on ``device`` (default CPU).

    Yields
    ------
    input_index, step_index : torch.Tensor
        int64, shape (rows,): which input and which quadrature node each row of the batch is;
        rows are input-major, so one batch holds all steps of several inputs.
    """
    n_rows = n_inputs * n_steps
    for start in range(0, n_rows, batch_size):
        rows = torch.arange(start, min(n_rows, start + batch_size), device=device)
        yield rows // n_steps, rows % n_steps


def take_rows(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` of ``tensor`` (N, ...); a tensor with one row (1, ...) is shared by all rows."""
    if tensor.shape[0] == 1:
        return tensor.expand(len(index), *tensor.shape[1:])
    return tensor.index_select(0, index)


def full_output(capture: Capture) -> torch.Tensor:
    """The model output ``capture`` recorded, (N, ...): its forward pass ran to the end (``stop=False``)."""
    if capture.output is None:
        raise RetinaCodecError(
            "the capture stopped at its layer; expected the capture of a full forward pass (stop=False)"
        )
    return capture.output


def per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape one value per row, shape (rows,), to broadcast against ``like`` (rows, ...)."""
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def target_gradients(
    output: torch.Tensor,
    reducers: Sequence[Reducer],
    input_index: torch.Tensor,
    activation: torch.Tensor,
) -> list[torch.Tensor]:
    """Gradient of each target with respect to one layer activation, row by row.

    Parameters
    ----------
    output : torch.Tensor
        Model output computed from ``activation``, shape (rows, ...).
    reducers : sequence of Reducer
        One per target (see :mod:`retinacodec.targets`).
    input_index : torch.Tensor
        int64, shape (rows,): the actual input each row belongs to.
    activation : torch.Tensor
        Layer activation rows in the graph of ``output``, shape (rows, ...).

    Returns
    -------
    list of torch.Tensor
        One per target, shape of ``activation``: :math:`\\partial F_j(\\text{row}) / \\partial a_\\text{row}`.
    """
    return [per_target[0] for per_target in layer_gradients(output, reducers, input_index, [activation])]


def layer_gradients(
    output: torch.Tensor,
    reducers: Sequence[Reducer],
    input_index: torch.Tensor,
    activations: Sequence[torch.Tensor],
) -> list[list[torch.Tensor]]:
    """Gradient of each target with respect to several layer activations at once, row by row.

    Parameters
    ----------
    output : torch.Tensor
        Model output computed from ``activations``, shape (rows, ...).
    reducers : sequence of Reducer
        One per target.
    input_index : torch.Tensor
        int64, shape (rows,): the actual input each row belongs to.
    activations : sequence of torch.Tensor
        Activation rows of each layer, in the graph of ``output``, shapes (rows, ...).

    Returns
    -------
    list of list of torch.Tensor
        ``[target][layer]``, each shaped like that layer's activation.

    Notes
    -----
    Rows do not interact (a network in eval mode), so the gradient of the sum over rows is the
    gradient of each row's target. One backward pass per target serves every layer; the graph is
    built once and reused for every target. A layer the target does not depend on gets zeros.
    """
    gradients = []
    for j, reducer in enumerate(reducers):
        value = reducer(output, input_index).sum()
        found = torch.autograd.grad(value, list(activations), retain_graph=j < len(reducers) - 1, allow_unused=True)
        gradients.append([torch.zeros_like(a) if g is None else g for a, g in zip(activations, found)])
    return gradients
