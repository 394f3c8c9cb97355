"""Interventions on a recorded layer: a layer's output recorded while the model predicts, and the rates
when channels of that layer are silenced (or scaled); used by the hypotheses and the control curves.

Silencing channels is :func:`retinacodec.control.hooks.ablate`'s intervention (zero the channels of the
layer's output); here the layer's output is recorded once and only the network after the layer is
rerun per channel set, which gives the same rates (``tests/control/test_recorded.py`` checks this
against :func:`retinacodec.control.experiments.retina_control`) at a fraction of the cost.
A :class:`PassCache` shares recordings and rates between the calls of one analysis.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from .._progress import progress_bar
from ..device import device_for, evaluating
from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, adapt
from ..models.registry import predict


@dataclass
class LayerRecording:
    """A layer's output over a stimulus, with the model's unperturbed rates."""

    rates: xr.DataArray
    """(time, cell) rates in Hz from :func:`retinacodec.models.predict`."""
    activation: torch.Tensor
    """(time, channel, y, x) output of the layer at the same times (float32, CPU)."""
    stimulus_size: int
    """Height and width of the stimulus frames (px)."""
    stimulus: xr.DataArray | None = None
    """The (time, y, x) stimulus recorded."""


def output_module(adapted: AdaptedModel, layer: str) -> str:
    """Dotted name of the module that produces ``layer``'s output: the layer itself or, for an
    ``nn.Sequential``, its last module (which also runs when :func:`retinacodec.models.predict`
    bypasses the layer's first module, as the retina CNN's FFT path does)."""
    name = adapted.resolve(layer)
    module = adapted.module.get_submodule(name)
    while isinstance(module, nn.Sequential) and len(module):
        child, module = list(module.named_children())[-1]
        name = f"{name}.{child}"
    return name


T = TypeVar("T")


class PassCache:
    """Passes computed once and shared between the calls of one analysis.

    Passed as ``cache`` to :func:`record_layer` and :func:`scaled_mean_rates` (and, through them,
    to the hypotheses, their test and the ceiling), it returns a repeated recording (same model,
    layer, stimulus frames, batch size and device) or a repeated channel set of the same recording
    from memory; :func:`remembered` gives other passes (the virtual retina's blocks and
    interneuron activities) the same memory. The results are the same with or without it. The
    models must not change while it is open; use it as a context manager, or call :meth:`close`,
    to drop what it holds.

    Examples
    --------
    >>> with PassCache() as cache:  # doctest: +SKIP
    ...     recording = record_layer(model, stimulus, "bipolar", cache=cache)
    ...     rates = scaled_mean_rates(model, recording, "bipolar", [(0,), (1, 2)], cache=cache)
    """

    def __init__(self) -> None:
        self._values: dict[Hashable, tuple[tuple, object]] = {}
        self._closed = False

    def __enter__(self) -> PassCache:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __len__(self) -> int:
        """Number of passes held."""
        return len(self._values)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Drop every pass held (and the objects kept alive for their keys); the cache cannot be used again."""
        self._values.clear()
        self._closed = True

    def holds(self, key: Hashable) -> bool:
        """Whether a value is held for ``key``.

        Raises
        ------
        RetinaCodecError
            When the cache is closed.
        """
        self._check_open()
        return key in self._values

    def remember(self, key: Hashable, compute: Callable[[], T], *keep) -> T:
        """The value held for ``key``, or ``compute()`` held from now on.

        Parameters
        ----------
        key : hashable
            What the value depends on (:func:`stimulus_key` for a stimulus, ``id`` for a model).
        compute : callable
            Computes the value.
        *keep
            Objects whose ``id`` is in the key: kept alive with the value so that the id is not reused.

        Raises
        ------
        RetinaCodecError
            When the cache is closed.
        """
        self._check_open()
        if key not in self._values:
            self._values[key] = (keep, compute())
        return cast(T, self._values[key][1])  # what compute() returned for this key

    def _check_open(self) -> None:
        if self._closed:
            raise RetinaCodecError("the pass cache is closed; expected an open PassCache (or none)")


def remembered(cache: PassCache | None, key: Callable[[], Hashable], compute: Callable[[], T], *keep) -> T:
    """``compute()``, or with a ``cache`` the value it holds for ``key()`` (:meth:`PassCache.remember`).

    ``key`` is called only with a cache, since a stimulus digest costs time.
    """
    return compute() if cache is None else cache.remember(key(), compute, *keep)


def stimulus_key(stimulus: xr.DataArray) -> str:
    """Digest of a stimulus's frames, shape and frame rate (equal for a transposed or copied twin)."""
    frames = np.ascontiguousarray(stimulus.transpose("time", "y", "x").values)
    digest = hashlib.sha1(frames.tobytes())
    digest.update(repr((frames.shape, frames.dtype.str, stimulus.attrs.get("frame_rate_hz"))).encode())
    return digest.hexdigest()


def record_layer(
    model: nn.Module,
    stimulus: xr.DataArray,
    layer: str,
    batch_size: int = 250,
    progress: bool = False,
    device: str | torch.device | None = None,
    cache: PassCache | None = None,
) -> LayerRecording:
    """Predict the model's rates for a stimulus and keep the layer's output.

    Parameters
    ----------
    model : torch.nn.Module
        A retina CNN (see :func:`retinacodec.models.load`).
    stimulus : xarray.DataArray
        (time, y, x) contrast at the model's frame rate and size.
    layer : str
        Layer name or alias (``"bipolar"``, ``"amacrine"``).
    batch_size : int
        Windows per forward pass.
    progress : bool
        Show a progress bar.
    device : str or torch.device, optional
        Torch device of the forward passes (the recorded output is kept on the CPU); by default
        where the model is.
    cache : PassCache, optional
        Where a recording of the same model, layer, stimulus frames, batch size and device is
        taken from, or kept.

    Returns
    -------
    LayerRecording

    Raises
    ------
    RetinaCodecError
        For an unknown layer, or a layer whose output is not produced once per window.
    """
    return remembered(
        cache,
        lambda: ("record", id(model), layer, stimulus_key(stimulus), batch_size, str(device)),
        lambda: _record_layer(model, stimulus, layer, batch_size, progress, device),
        model,
    )


def _record_layer(
    model: nn.Module,
    stimulus: xr.DataArray,
    layer: str,
    batch_size: int,
    progress: bool,
    device: str | torch.device | None,
) -> LayerRecording:
    """:func:`record_layer`, computed."""
    adapted = adapt(model)
    module = adapted.module.get_submodule(output_module(adapted, layer))
    parts: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda mod, inputs, output: parts.append(output.detach().cpu().clone()))
    try:
        rates = predict(adapted.module, stimulus, batch_size=batch_size, progress=progress, device=device)
    finally:
        handle.remove()
    activation = torch.cat(parts) if parts else torch.empty(0)
    if activation.ndim != 4 or activation.shape[0] != rates.sizes["time"]:
        raise RetinaCodecError(
            f"layer {layer!r} gave output of shape {tuple(activation.shape)} for {rates.sizes['time']} windows; "
            "expected a convolutional layer (channel, y, x) that runs once per window"
        )
    return LayerRecording(rates, activation, int(stimulus.sizes["y"]), stimulus)


def scaled_mean_rates(
    model: nn.Module,
    recording: LayerRecording,
    layer: str,
    channel_sets: Sequence[Sequence[int]],
    gain: float = 0.0,
    batch_size: int = 500,
    progress: bool = False,
    device: str | torch.device | None = None,
    cache: PassCache | None = None,
) -> np.ndarray:
    """Mean rate of every cell with each channel set of the layer silenced (or scaled).

    Parameters
    ----------
    model : torch.nn.Module
        The model the recording came from.
    recording : LayerRecording
        From :func:`record_layer` with the same model and layer.
    layer : str
        The recorded layer.
    channel_sets : sequence of sequence of int
        Channels to intervene on, one set per row of the result.
    gain : float
        Factor on the set's outputs: 0 silences them (:func:`retinacodec.control.hooks.ablate`), 2
        doubles them.
    batch_size : int
        Windows per downstream pass.
    progress : bool
        Show a progress bar over channel sets (over batches of windows when the network after the
        layer starts with a convolution).
    device : str or torch.device, optional
        Torch device of the downstream passes; by default where the model is.
    cache : PassCache, optional
        Where the rates of a set of the same recording, gain, batch size and device are taken
        from, or kept.

    Returns
    -------
    numpy.ndarray
        float64 (set, cell) mean rates in Hz over the recording's windows.

    Notes
    -----
    When the network after the layer starts with a convolution :math:`W` (the retina CNN's
    bipolar layer feeds the amacrine convolution), the convolution is run once per batch for all
    sets: :math:`W * (m \\odot a) = W * a + (g - 1) \\sum_{c \\in S} W_c * a_c` for the mask
    :math:`m` that scales the set :math:`S` by :math:`g`, with :math:`W_c * a_c` the convolution of
    channel :math:`c` alone; each set then costs only what follows the convolution. The rates
    equal those of the masked pass up to float32 rounding.
    """
    adapted = adapt(model)
    downstream = adapted.downstream(layer)
    if downstream.needs_context:
        raise RetinaCodecError(
            f"layer {layer!r} is not a cut of a known chain of modules; expected a layer "
            "of the retina CNN (bipolar, amacrine)"
        )
    n_channels = recording.activation.shape[1]
    sets = [tuple(int(c) for c in channels) for channels in channel_sets]
    for channels in sets:
        if channels and (min(channels) < 0 or max(channels) >= n_channels):
            raise RetinaCodecError(
                f"channels {list(channels)} are out of range; layer {layer!r} has {n_channels} channels"
            )

    def key(channels: tuple[int, ...]) -> Callable[[], tuple]:
        return lambda: ("rates", id(recording), layer, float(gain), channels, batch_size, str(device))

    def held(channels: tuple[int, ...]) -> Callable[[], np.ndarray]:
        return lambda: computed[channels]

    missing = list(dict.fromkeys(c for c in sets if cache is None or not cache.holds(key(c)())))
    target = device_for(adapted.module, device)
    computed: dict[tuple[int, ...], np.ndarray] = {}
    if missing:
        with evaluating(adapted.module, target) as dtype, torch.no_grad():
            leading = leading_convolution(downstream.steps)
            run_passes = (
                functools.partial(_linear_mean_rates, *leading)
                if leading is not None
                else functools.partial(masked_mean_rates, downstream)
            )
            passes = run_passes(
                recording.activation, missing, gain, batch_size, target, dtype, f"intervene in {layer}", progress
            )
            computed = dict(zip(missing, passes))
    return (
        np.stack([remembered(cache, key(channels), held(channels), recording) for channels in sets])
        if sets
        else np.empty((0, recording.rates.sizes["cell"]))
    )


def leading_convolution(steps: list[Callable]) -> tuple[nn.Conv2d, list[Callable]] | None:
    """Split off the convolution a downstream network starts with.

    Parameters
    ----------
    steps : list of callable
        The modules after a layer (:attr:`~retinacodec.models.adapter.Downstream.steps`).

    Returns
    -------
    tuple of (torch.nn.Conv2d, list of callable) or None
        The first convolution (also as the first module of a leading ``Sequential``) and the steps
        after it; None when the steps start otherwise or the convolution groups channels or pads
        with anything but zeros (then a channel's share of its output is not its convolution alone).
    """
    first, rest = (steps[0], steps[1:]) if steps else (None, [])
    if isinstance(first, nn.Sequential) and len(first):
        rest = [*first[1:], *rest]
        first = first[0]
    if isinstance(first, nn.Conv2d) and first.groups == 1 and first.padding_mode == "zeros":
        return first, rest
    return None


def masked_mean_rates(
    downstream: Callable[[torch.Tensor], torch.Tensor],
    activation: torch.Tensor,
    sets: Sequence[tuple[int, ...]],
    gain: float,
    batch_size: int,
    target: torch.device,
    dtype: torch.dtype,
    description: str = "intervene",
    progress: bool = False,
) -> list[np.ndarray]:
    """Mean rates per channel set, the downstream network run on the masked activation, one set
    at a time (the plain intervention; :func:`scaled_mean_rates` uses it where no convolution
    leads the downstream network).

    Parameters
    ----------
    downstream : callable
        The network after the layer (:meth:`~retinacodec.models.adapter.AdaptedModel.downstream`),
        in eval mode on ``target``; call inside ``torch.no_grad()``.
    activation : torch.Tensor
        (window, channel, y, x) recorded layer output.
    sets, gain, batch_size
        As for :func:`scaled_mean_rates`.
    target : torch.device
        Where the passes run.
    dtype : torch.dtype
        The network's floating dtype.
    description : str
        Label of the progress bar.
    progress : bool
        Show a progress bar over the sets.

    Returns
    -------
    list of numpy.ndarray
        One float64 (cell,) mean-rate vector per set.
    """
    results = []
    for channels in progress_bar(sets, desc=description, unit="set", progress=progress):
        mask = torch.ones(1, activation.shape[1], 1, 1, dtype=dtype, device=target)
        mask[0, list(channels)] = gain
        total = cast(  # a tensor: a recording holds at least one window
            torch.Tensor,
            sum(
                downstream(activation[start : start + batch_size].to(device=target, dtype=dtype) * mask).double().sum(0)
                for start in range(0, activation.shape[0], batch_size)
            ),
        )
        results.append((total / activation.shape[0]).cpu().numpy())
    return results


def _linear_mean_rates(
    convolution: nn.Conv2d,
    rest: list[Callable],
    activation: torch.Tensor,
    sets: Sequence[tuple[int, ...]],
    gain: float,
    batch_size: int,
    target: torch.device,
    dtype: torch.dtype,
    description: str,
    progress: bool,
) -> list[np.ndarray]:
    """Mean rates per set, the leading convolution run once per batch (see :func:`scaled_mean_rates`)."""
    used = sorted({c for channels in sets for c in channels})
    totals: torch.Tensor | None = None
    starts = range(0, activation.shape[0], batch_size)
    for start in progress_bar(starts, desc=description, unit="batch", progress=progress):
        batch = activation[start : start + batch_size].to(device=target, dtype=dtype)
        full = convolution(batch)
        alone = {
            c: torch.nn.functional.conv2d(
                batch[:, c : c + 1],
                convolution.weight[:, c : c + 1],
                None,
                convolution.stride,
                convolution.padding,
                convolution.dilation,
            )
            for c in used
        }
        rows = []
        for channels in sets:
            hidden = full + (gain - 1.0) * sum(alone[c] for c in channels) if channels else full.clone()
            for step in rest:
                hidden = step(hidden)
            rows.append(hidden.double().sum(0))
        summed = torch.stack(rows)
        totals = summed if totals is None else totals + summed
    assert totals is not None  # a recording holds at least one window
    return list((totals / activation.shape[0]).cpu().numpy())


def activity_at(recording: LayerRecording, positions: np.ndarray) -> np.ndarray:
    """The layer's output at stimulus pixels, mapped through the valid convolutions' offset.

    Parameters
    ----------
    recording : LayerRecording
        From :func:`record_layer`.
    positions : numpy.ndarray
        int (position, 2) [y, x] stimulus pixels.

    Returns
    -------
    numpy.ndarray
        float64 (time, channel, position).

    Notes
    -----
    A stack of "valid" convolutions with odd kernels maps output pixel :math:`i` to the input
    pixel :math:`i + (S - H) / 2` at its centre, with :math:`S` the stimulus size and :math:`H`
    the layer's size.
    """
    height, width = recording.activation.shape[-2:]
    offset = (recording.stimulus_size - height) // 2
    local = np.asarray(positions, dtype=int) - offset
    outside = (local < 0).any(axis=1) | (local[:, 0] >= height) | (local[:, 1] >= width)
    if outside.any():
        raise RetinaCodecError(
            f"positions {np.asarray(positions)[outside].tolist()} lie outside the layer's "
            f"{height} x {width} map (stimulus pixels {offset}..{offset + height - 1})"
        )
    return recording.activation[:, :, local[:, 0], local[:, 1]].double().numpy()
