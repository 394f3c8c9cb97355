"""The activation a cell sees: each channel's output averaged over the cell's receptive-field window.

A retina sample is (time, cell). A channel's output summed over space is the same for every cell
at a given time, so activation modes built from it cannot tell cells apart (their correlation with
cell type is zero by construction). :class:`CellActivation` instead weights each position of the
layer by where the cell reads out, so the activation depends on the cell, as the contribution does.

Which window, and why
---------------------
The window of cell :math:`i` in the last hidden layer is its readout's footprint,
:math:`w_i(p) \\propto \\sum_c |W_{icp}|` (the dense readout's weights, magnitudes summed over
channels; a factorized readout's spatial mask :math:`|m_i(p)|`); in an earlier layer it is that footprint spread by
the footprints (kernel squares) of
the convolutions in between, the positions that can reach the cell at all. Each window sums to 1,
so the per-cell activation is a weighted mean of the channel's output, in the layer's units:

.. math:: a_{ic}(t) = \\sum_p w_i(p)\\, a_c(t, p).

The window is the same for every channel: it says *where* the cell looks (its receptive field in
the layer), not *how* it uses each channel. Weighting each channel by its own signed readout
weights would instead give :math:`\\sum_p W_{icp} a_{cp}`, the channel's linear drive of the cell,
which is a first-order contribution; the comparison of contributions against activations would then
compare contributions against contributions. The spatial sum (``activation="space"`` in
:func:`retinacodec.contributions`) stays the right choice for population targets (a cell type, a
class logit), whose samples have no single window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.signal import convolve2d
from torch import nn

from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, adapt
from ..targets import Cell, Target

ACTIVATIONS = ("space", "cell")
"""How :func:`retinacodec.contributions` reduces a layer's output to one activation per channel:
summed over space (the same for every target), or over each target cell's window."""
CELL_LONG_NAME = "layer output averaged over the cell's receptive-field window"


def check_activation(activation: str, targets: Sequence[Target]) -> str:
    """Refuse an unknown reduction, or ``"cell"`` for targets that are not single cells.

    Raises
    ------
    RetinaCodecError
        For a value outside :data:`ACTIVATIONS`, or ``"cell"`` with a population target.
    """
    if activation not in ACTIVATIONS:
        raise RetinaCodecError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    if activation == "cell" and not all(isinstance(t, Cell) for t in targets):
        raise RetinaCodecError(
            "activation='cell' needs single-cell targets (Cell(i)); expected Cell targets, or "
            "activation='space' for population targets"
        )
    return activation


def _readout_footprint(model: nn.Module, cells: Sequence[int]) -> tuple[np.ndarray, list[nn.Conv2d]]:
    """Each cell's readout footprint on the last convolutional map, (cell, side, side), and the
    model's 2-d convolutions in order.

    A dense readout (the last ``nn.Linear``, channel-major) gives :math:`\\sum_c |W_{icp}|`; a
    factorized readout (:class:`~retinacodec.models.retina_cnn.FactorizedReadout`) its spatial
    mask :math:`|m_i(p)|`.
    """
    from ..models.retina_cnn import FactorizedReadout

    factorized = [m for m in model.modules() if isinstance(m, FactorizedReadout)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not (factorized or linears) or not convs:
        raise RetinaCodecError(
            f"{type(model).__name__} has no convolutions with a readout; activation='cell' "
            "expects a retina CNN (convolutions, then a dense or factorized readout of the cells)"
        )
    if factorized:
        return factorized[-1].mask.detach().abs().double().cpu().numpy()[list(cells)], convs
    readout, n_channels = linears[-1], convs[-1].out_channels
    side = int(round(np.sqrt(readout.in_features / n_channels)))
    if n_channels * side * side != readout.in_features:
        raise RetinaCodecError(
            f"the readout takes {readout.in_features} inputs; expected channels x a square map "
            f"from the last convolution ({n_channels} channels)"
        )
    weights = readout.weight.detach().abs().double().cpu().numpy()[list(cells)]
    return weights.reshape(len(cells), n_channels, side, side).sum(axis=1), convs


def receptive_windows(
    model: nn.Module | AdaptedModel, layer: str, cells: Sequence[int], shape: Sequence[int]
) -> np.ndarray:
    """Each cell's receptive-field window in a layer's (y, x) map.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        A retina CNN: 2-d convolutions (the ``layer`` among them or ending in one) and a dense
        (last ``nn.Linear``, flattened channel-major) or factorized readout of the cells from the
        last convolutional map.
    layer : str
        Layer name or alias.
    cells : sequence of int
        Cell (output) indices.
    shape : tuple of int
        (height, width) of the layer's output map (px of the layer).

    Returns
    -------
    numpy.ndarray
        float64 (cell, y, x), non-negative, each cell's window summing to 1 (see the module
        docstring for the rule).

    Raises
    ------
    RetinaCodecError
        For a model without that structure, a layer that is not one of its convolutional
        stages, a window that does not fit ``shape``, or a cell with an all-zero readout.
    """
    adapted = adapt(model)
    window, convs = _readout_footprint(adapted.module, cells)
    stage = adapted.module.get_submodule(adapted.resolve(layer))
    inside = [i for i, conv in enumerate(convs) if conv is stage or any(conv is m for m in stage.modules())]
    if not inside:
        raise RetinaCodecError(
            f"layer {layer!r} holds none of the model's convolutions; activation='cell' expects a "
            "convolutional layer of a retina CNN (bipolar, amacrine)"
        )
    for conv in convs[inside[-1] + 1 :][::-1]:
        footprint = np.ones(conv.kernel_size)
        window = np.stack([convolve2d(w, footprint, mode="full") for w in window])
    if window.shape[1:] != tuple(shape):
        raise RetinaCodecError(
            f"the readout's window in layer {layer!r} is {window.shape[1:]}; the layer's map is "
            f"{tuple(shape)} (expected valid convolutions without stride)"
        )
    total = window.sum(axis=(1, 2), keepdims=True)
    if (total <= 0).any():
        raise RetinaCodecError("some cells have an all-zero readout; expected a trained readout")
    return window / total


class CellActivation:
    """Per-cell activation of every channel, from a layer's output captured anyway by the
    contributions' forward pass (no pass of its own); each layer's windows are made once.

    Parameters
    ----------
    adapted : AdaptedModel
        The network.
    targets : sequence of Cell
        The target cells.
    split : bool
        Average the negative and positive parts of the output apart (last axis neg, pos).
    """

    def __init__(self, adapted: AdaptedModel, targets: Sequence[Cell], split: bool) -> None:
        self.adapted, self.cells, self.split = adapted, [t.i for t in targets], split
        self._windows: dict[str, torch.Tensor] = {}

    def __call__(self, layer: str, output: torch.Tensor) -> np.ndarray:
        """The per-cell activation of a batch of the layer's output.

        Parameters
        ----------
        layer : str
            Layer name or alias.
        output : torch.Tensor
            (N, channel, y, x) the layer's output for N inputs.

        Returns
        -------
        numpy.ndarray
            (N x targets, channel[, sign]), sample-major (input, then target) as
            :func:`retinacodec.contributions` orders samples; units of the layer's output.
        """
        window = self._windows.get(layer)
        if window is None:
            window = torch.as_tensor(
                receptive_windows(self.adapted, layer, self.cells, tuple(output.shape[-2:])),
                dtype=output.dtype,
                device=output.device,
            )
            self._windows[layer] = window
        with torch.no_grad():
            pieces = (output.clamp(max=0), output.clamp(min=0)) if self.split else (output,)
            reduced = torch.stack([torch.einsum("nchw,thw->ntc", piece, window) for piece in pieces], dim=-1)
        result = reduced.reshape(-1, *reduced.shape[2:]).cpu().numpy()
        return result if self.split else result[..., 0]
