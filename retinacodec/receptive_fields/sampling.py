"""Times to compute IRFs at when none are asked for, and what the IRFs of every time would take."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from torch import nn

from .._validation import check_int
from ..models.registry import windows


@dataclass(frozen=True)
class TimeSample:
    """A few evenly spaced times of a stimulus, and the size of the IRFs at all of them."""

    times: np.ndarray
    """(time,) s, the first and last window's among them."""
    n_windows: int
    """Windows of the stimulus with a full history (the times IRFs can be computed at)."""
    all_gb: float
    """GB the float32 IRFs at every window would take."""


def irf_gigabytes(n_times: int, n_cells: int, n_modes: int, window_size: int) -> float:
    """GB of float32 IRFs: the whole IRF and, with ``n_modes`` > 0, one per mode and the residual,
    per (time, cell), each of ``window_size`` values (lag x y x x)."""
    parts = n_modes + 2 if n_modes else 1
    return n_times * n_cells * parts * window_size * 4 / 1e9


def sample_times(model: nn.Module, stimulus: xr.DataArray, count: int, n_cells: int, n_modes: int = 0) -> TimeSample:
    """``count`` evenly spaced times of the stimulus's windows (all when there are fewer).

    Parameters
    ----------
    model : torch.nn.Module
        A retina model (see :func:`~retinacodec.models.registry.windows`).
    stimulus : xarray.DataArray
        (time, y, x) contrast.
    count : int
        Times wanted, >= 1.
    n_cells, n_modes : int
        Cells and modes the IRFs would have (for :attr:`TimeSample.all_gb`).

    Returns
    -------
    TimeSample

    Raises
    ------
    RetinaCodecError
        For a stimulus that does not fit the model, or ``count`` < 1.
    """
    count = check_int("count", count)
    inputs, window_times = windows(model, stimulus)
    positions = np.unique(np.linspace(0, len(window_times) - 1, min(count, len(window_times))).round().astype(int))
    gigabytes = irf_gigabytes(len(window_times), n_cells, n_modes, inputs[0].numel())
    return TimeSample(window_times[positions], len(window_times), gigabytes)
