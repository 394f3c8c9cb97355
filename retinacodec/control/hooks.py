"""Hooks that silence channels of a layer's output: :func:`ablate` zeroes the named channels,
:func:`preserve` every other one, while a context is open; given ``fill`` values (a mean
ablation), they replace the silenced channels instead of zero."""

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

ABLATIONS = ("zero", "mean")
"""What a silenced channel becomes: zero, or its mean over a set of inputs (at every position)."""


def _channel_positions(channels: Channels) -> np.ndarray:
    positions = np.asarray(channels).ravel()
    if positions.size and (not np.issubdtype(positions.dtype, np.integer) or positions.min() < 0):
        raise RetinaCodecError(f"channels {list(positions)}; expected non-negative integer channel indices")
    return positions.astype(np.int64)


def _fill_values(fill: np.ndarray | Sequence[float] | None) -> np.ndarray | None:
    if fill is None:
        return None
    values = np.asarray(fill, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise RetinaCodecError(f"fill of shape {values.shape}; expected finite values, one per channel (channel,)")
    return values


@contextmanager
def _zeroed(
    model: nn.Module | AdaptedModel,
    layer: str,
    channels: Channels,
    keep: bool,
    fill: np.ndarray | Sequence[float] | None = None,
) -> Iterator[None]:
    adapted = adapt(model)
    module = adapted.module.get_submodule(adapted.resolve(layer))
    positions = _channel_positions(channels)
    values = _fill_values(fill)

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        axis = adapted.channel_axis(layer, output)
        n_channels = output.shape[axis]
        if positions.size and positions.max() >= n_channels:
            raise RetinaCodecError(
                f"channel {int(positions.max())} is out of range; layer {layer!r} has {n_channels} "
                f"channels (expected indices 0..{n_channels - 1})"
            )
        if values is not None and values.size != n_channels:
            raise RetinaCodecError(f"{values.size} fill values; layer {layer!r} has {n_channels} channels")
        mask = torch.full((n_channels,), float(not keep), dtype=output.dtype, device=output.device)
        mask[torch.as_tensor(positions, device=output.device)] = float(keep)
        shape = [1] * output.ndim
        shape[axis] = n_channels
        if values is None:
            return output * mask.reshape(shape)
        replacement = torch.as_tensor(values, dtype=output.dtype, device=output.device) * (1 - mask)
        return output * mask.reshape(shape) + replacement.reshape(shape)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def ablate(
    model: nn.Module | AdaptedModel, layer: str, channels: Channels, fill: np.ndarray | Sequence[float] | None = None
) -> Iterator[None]:
    """Zero the named channels of a layer's output (or set them to ``fill``) while the context is open.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        The network (changed in place: a forward hook on the layer, removed on exit, also when
        the block raises).
    layer : str
        Layer name or alias (see :func:`retinacodec.models.adapt`).
    channels : sequence of int or numpy.ndarray
        Channel indices along the layer's channel axis.
    fill : array-like, optional
        (channel,) value of each channel at every position when it is silenced, e.g. its mean
        (:attr:`retinacodec.models.adapter.InterventionPoint.channel_mean`); zero by default.

    Raises
    ------
    RetinaCodecError
        For an unknown layer, a negative index or fill values that are not a finite vector on
        entry; for an index past the layer's channel count, or fill values of another length, at
        the first forward pass inside the context.

    Examples
    --------
    >>> with ablate(model, "bipolar", [0, 3]):  # doctest: +SKIP
    ...     rates = model(x)
    """
    with _zeroed(model, layer, channels, keep=False, fill=fill):
        yield


@contextmanager
def preserve(
    model: nn.Module | AdaptedModel, layer: str, channels: Channels, fill: np.ndarray | Sequence[float] | None = None
) -> Iterator[None]:
    """Zero every channel of a layer's output except the named ones (or set them to ``fill``)
    while the context is open.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        The network (a forward hook on the layer, removed on exit, also when the block raises).
    layer : str
        Layer name or alias.
    channels : sequence of int or numpy.ndarray
        Channel indices to keep; ``preserve(model, layer, range(n_channels))`` changes nothing.
    fill : array-like, optional
        (channel,) value of each other channel at every position; zero by default.

    Raises
    ------
    RetinaCodecError
        As for :func:`ablate`.
    """
    with _zeroed(model, layer, channels, keep=True, fill=fill):
        yield
