"""Turn what a user passes (a stimulus, images) into model inputs, baselines and sample labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..errors import RetinaCodecError

BASELINES = ("zero", "mean")
"""Named baselines; a tensor or array in the model's input space is also accepted."""


@dataclass
class Inputs:
    """Model inputs with their labels.

    Attributes
    ----------
    values : torch.Tensor
        Model inputs, shape (N, ...), on the model's device; for a stimulus a strided float32 view
        of its windows (convert batches of rows to the model's dtype as they are used).
    baseline : torch.Tensor
        Baseline input, shape (1, ...) (shared) or (N, ...) (one per input).
    dim : str
        Name of the input level of the ``sample`` index: ``"time"`` or ``"image"``.
    coord : numpy.ndarray
        Its values, shape (N,): time of each window's last frame in s, or image number.
    attrs : dict
        Provenance of the inputs (stimulus kind) for the result's attrs.
    """

    values: torch.Tensor
    baseline: torch.Tensor
    dim: str
    coord: np.ndarray
    attrs: dict = field(default_factory=dict)


def is_stimulus(x: object) -> TypeGuard[xr.DataArray]:
    """Whether ``x`` is a stimulus: a DataArray with dims (time, y, x) in any order."""
    return isinstance(x, xr.DataArray) and set(x.dims) == {"time", "y", "x"}


def _as_tensor(
    x: xr.DataArray | torch.Tensor | np.ndarray, what: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """A finite floating tensor of ``dtype`` on ``device`` from a tensor, array or DataArray."""
    if isinstance(x, xr.DataArray):
        x = x.values
    if not isinstance(x, torch.Tensor):
        array = np.asarray(x)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise RetinaCodecError(f"{what} has dtype {array.dtype}; expected real numbers")
        x = torch.from_numpy(array)
    tensor = x.detach().to(device=device, dtype=dtype)
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise RetinaCodecError(f"{what} holds {bad} NaN or infinite values; expected finite numbers")
    return tensor


def _check_windows(model: nn.Module, values: torch.Tensor) -> None:
    """Refuse inputs that are not windows (N, history, y, x) of a retina model."""
    from ..models.registry import frame_shape

    history = int(cast(Any, model).history)
    expected = (history, *frame_shape(model)) if hasattr(model, "size") else None
    if values.ndim != 4 or values.shape[1] != history or (expected and tuple(values.shape[1:]) != expected):
        shown = f"(N, {', '.join(map(str, expected))})" if expected else f"(N, {history}, y, x)"
        raise RetinaCodecError(
            f"input has shape {tuple(values.shape)}; a retina model takes a stimulus DataArray (time, y, x) "
            f"or windows {shown} of normalised frames"
        )


def _retina_windows(model: nn.Module, stimulus: xr.DataArray) -> tuple[torch.Tensor, np.ndarray]:
    if not hasattr(model, "history"):
        raise RetinaCodecError(
            f"a stimulus (time, y, x) needs a retina model with a 'history' of frames; "
            f"{type(model).__name__} has none (pass a batch of inputs (N, ...) instead; for an openretina model, "
            "rc.models.from_openretina(model, frame_rate_hz=...))"
        )
    from ..models.registry import windows

    return windows(model, stimulus)


def _baseline(
    baseline: str | torch.Tensor | np.ndarray,
    values: torch.Tensor,
    mean_input: Callable[[], torch.Tensor],
    dtype: torch.dtype,
) -> torch.Tensor:
    """Resolve a named or given baseline to a tensor of shape (1, ...) or (N, ...)."""
    if isinstance(baseline, str):
        if baseline == "zero":
            return torch.zeros(1, *values.shape[1:], dtype=dtype, device=values.device)
        if baseline == "mean":
            return mean_input()
        raise RetinaCodecError(f"unknown baseline {baseline!r}; expected one of {', '.join(BASELINES)} or a tensor")
    given = _as_tensor(baseline, "baseline", dtype, values.device)
    if given.shape == values.shape[1:]:
        given = given.unsqueeze(0)
    if given.shape[1:] != values.shape[1:] or given.shape[0] not in (1, values.shape[0]):
        raise RetinaCodecError(
            f"baseline has shape {tuple(given.shape)}; expected one input {tuple(values.shape[1:])} "
            f"or one per input {tuple(values.shape)}"
        )
    return given


def prepare_inputs(
    model: nn.Module,
    x: xr.DataArray | torch.Tensor | np.ndarray,
    baseline: str | torch.Tensor | np.ndarray,
    dtype: torch.dtype,
    device: torch.device,
) -> Inputs:
    """Model inputs, baseline and sample labels for ``x``.

    Parameters
    ----------
    model : torch.nn.Module
        The network; for a stimulus it must be a retina model (``history`` frames per input).
    x : xarray.DataArray, torch.Tensor or numpy.ndarray
        A stimulus DataArray (time, y, x) in contrast, cut into one window of ``model.history``
        frames per time point (the model's normalisation applied), or images / inputs (N, ...).
    baseline : {"zero", "mean"} or array
        ``"zero"``: all-zero model input. ``"mean"``: for a stimulus, the mean-luminance stimulus
        (zero contrast, normalised like the stimulus); for images, the per-pixel mean of ``x`` over
        the N inputs. An array: one input (...) or one per input (N, ...), in model input space.
    dtype, device
        Those of the model's parameters.

    Returns
    -------
    Inputs

    Raises
    ------
    RetinaCodecError
        For non-finite values, a wrong baseline shape or an unknown baseline name.
    """
    if is_stimulus(x):
        from ..stimuli.base import validate_stimulus

        stimulus = validate_stimulus(x)
        values, times = _retina_windows(model, stimulus)

        def mean_luminance() -> torch.Tensor:
            blank = xr.zeros_like(stimulus.isel(time=slice(0, values.shape[1])))
            return _as_tensor(_retina_windows(model, blank)[0], "mean-luminance window", dtype, device)

        resolved = _baseline(baseline, values, mean_luminance, dtype)
        return Inputs(
            values,
            resolved,
            "time",
            np.asarray(times, dtype=float),
            {"stimulus": str(stimulus.attrs.get("kind", "unknown"))},
        )
    if hasattr(model, "history") and isinstance(x, xr.DataArray):
        raise RetinaCodecError(f"stimulus has dims {x.dims}; expected (time, y, x) (rename or transpose its dims)")
    values = _as_tensor(x, "input", dtype, device)
    if values.ndim < 2 or values.shape[0] == 0:
        raise RetinaCodecError(f"input has shape {tuple(values.shape)}; expected a batch (N, ...) with N >= 1")
    if hasattr(model, "history"):
        _check_windows(model, values)
    resolved = _baseline(baseline, values, lambda: values.mean(dim=0, keepdim=True), dtype)
    return Inputs(values, resolved, "image", np.arange(values.shape[0]))
