"""Hooks that silence channels of a layer's output: :func:`ablate` zeroes the named channels,
:func:`preserve` every other one, while a context is open."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, adapt

Channels = Sequence[int] | np.ndarray
"""Channel indices along a layer's channel axis: a sequence of int, or an int array such as
:func:`retinacodec.modes.selection.top_channels` returns."""


def _channel_positions(channels: Channels) -> np.ndarray:
    positions = np.asarray(channels).ravel()
    if positions.size and (not np.issubdtype(positions.dtype, np.integer) or positions.min() < 0):
        raise RetinaCodecError(f"channels {list(positions)}; expected non-negative integer channel indices")
    return positions.astype(np.int64)


@contextmanager
def _zeroed(model: nn.Module | AdaptedModel, layer: str, channels: Channels, keep: bool) -> Iterator[None]:
    adapted = adapt(model)
    module = adapted.module.get_submodule(adapted.resolve(layer))
    positions = _channel_positions(channels)

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        axis = adapted.channel_axis(layer, output)
        n_channels = output.shape[axis]
        if positions.size and positions.max() >= n_channels:
            raise RetinaCodecError(
                f"channel {int(positions.max())} is out of range; layer {layer!r} has {n_channels} "
                f"channels (expected indices 0..{n_channels - 1})"
            )
        mask = torch.full((n_channels,), float(not keep), dtype=output.dtype, device=output.device)
        mask[torch.as_tensor(positions, device=output.device)] = float(keep)
        shape = [1] * output.ndim
        shape[axis] = n_channels
        return output * mask.reshape(shape)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def ablate(model: nn.Module | AdaptedModel, layer: str, channels: Channels) -> Iterator[None]:
    """Zero the named channels of a layer's output while the context is open.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        The network (changed in place: a forward hook on the layer, removed on exit, also when
        the block raises).
    layer : str
        Layer name or alias (see :func:`retinacodec.models.adapt`).
    channels : sequence of int or numpy.ndarray
        Channel indices along the layer's channel axis.

    Raises
    ------
    RetinaCodecError
        For an unknown layer or a negative index on entry; for an index past the layer's channel
        count at the first forward pass inside the context.

    Examples
    --------
    >>> with ablate(model, "bipolar", [0, 3]):  # doctest: +SKIP
    ...     rates = model(x)
    """
    with _zeroed(model, layer, channels, keep=False):
        yield


@contextmanager
def preserve(model: nn.Module | AdaptedModel, layer: str, channels: Channels) -> Iterator[None]:
    """Zero every channel of a layer's output except the named ones while the context is open.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        The network (a forward hook on the layer, removed on exit, also when the block raises).
    layer : str
        Layer name or alias.
    channels : sequence of int or numpy.ndarray
        Channel indices to keep; ``preserve(model, layer, range(n_channels))`` changes nothing.

    Raises
    ------
    RetinaCodecError
        As for :func:`ablate`.
    """
    with _zeroed(model, layer, channels, keep=True):
        yield
