"""Rate changes summarised per cell type, when a change counts as a change, and the change of a
block of a set's inhibitory outputs only.

Shared by the prediction side (:mod:`.predict`, changes of the CNN under ablation) and the test
side (:mod:`.score`, changes of the virtual retina under a block), so both use one rule: a change
counts when a recording of ``recording_s`` seconds would see it at ``z_min`` Poisson standard
errors.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import xarray as xr

from ..errors import RetinaCodecError

TYPE_DIM = "type"
"""Dim of per-cell-type summaries (``cell_type`` is the coord along ``cell``)."""


def check_criterion(recording_s: float, z_min: float) -> None:
    """Refuse a recording length that is not positive or a z threshold that is negative."""
    for name, value, low in (("recording_s", recording_s, 0.0), ("z_min", z_min, 0.0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not np.isfinite(value)
            or value < low
            or (name == "recording_s" and value == 0)
        ):
            raise RetinaCodecError(
                f"{name} is {value!r}; expected a finite number {'> 0 (seconds)' if name == 'recording_s' else '>= 0'}"
            )


def by_type(values: xr.DataArray) -> xr.DataArray:
    """Mean over the cells of each type: dims (..., cell) -> (..., type), types in first-seen order.

    Parameters
    ----------
    values : xarray.DataArray
        Per-cell values with a ``cell_type`` coord along ``cell``.

    Returns
    -------
    xarray.DataArray
        Same leading dims, last dim ``type``.
    """
    if "cell_type" not in values.coords:
        raise RetinaCodecError("per-cell values have no cell_type coord; expected one label per cell")
    labels = np.asarray(values["cell_type"].values, dtype=str)
    types = list(dict.fromkeys(labels))
    means = [values.isel(cell=np.flatnonzero(labels == t)).mean("cell") for t in types]
    return xr.concat(means, dim=TYPE_DIM).assign_coords({TYPE_DIM: types}).transpose(..., TYPE_DIM)


def type_counts(values: xr.DataArray) -> xr.DataArray:
    """Number of cells of each type, dim ``type`` in the order of :func:`by_type`."""
    labels = np.asarray(values["cell_type"].values, dtype=str)
    types = list(dict.fromkeys(labels))
    return xr.DataArray([int((labels == t).sum()) for t in types], dims=TYPE_DIM, coords={TYPE_DIM: types})


def effect_z(change: xr.DataArray, baseline: xr.DataArray, recording_s: float, n_cells=1) -> xr.DataArray:
    """A change of mean rate in units of its Poisson standard error in a recording.

    Parameters
    ----------
    change : xarray.DataArray
        Change of mean rate :math:`\\Delta` (Hz).
    baseline : xarray.DataArray
        Rate without the intervention :math:`r_0` (Hz), broadcastable to ``change``.
    recording_s : float
        Length :math:`T` of the recording of each condition (s).
    n_cells : int or xarray.DataArray
        Cells pooled into the mean (e.g. :func:`type_counts`).

    Returns
    -------
    xarray.DataArray
        :math:`z = |\\Delta| / \\sqrt{(r_0 + r_1) / (n T)}` with :math:`r_1 = r_0 + \\Delta`: the
        difference of two Poisson rate estimates over :math:`n T` cell-seconds each; ``inf`` for
        a change from and to silence, 0 for no change.
    """
    variance = (2 * baseline + change).clip(min=0) / (recording_s * n_cells)
    size = abs(change)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = size / np.sqrt(variance)
    return xr.where(variance > 0, z, xr.where(size > 0, np.inf, 0.0)).transpose(*change.dims, ...)


def changed(change: xr.DataArray, baseline: xr.DataArray, recording_s: float, z_min: float) -> xr.DataArray:
    """Whether each cell's change would be seen: :func:`effect_z` of one cell >= ``z_min``."""
    return effect_z(change, baseline, recording_s) >= z_min


def categories(change: xr.DataArray, baseline: xr.DataArray, recording_s: float, z_min: float) -> xr.DataArray:
    """Direction of each cell type's change: +1 up, -1 down, 0 no change that would be seen.

    Parameters
    ----------
    change : xarray.DataArray
        Per-cell change of mean rate (..., cell) in Hz, with a ``cell_type`` coord.
    baseline : xarray.DataArray
        Per-cell mean rate without the intervention (cell,) in Hz.
    recording_s, z_min : float
        A type's mean change counts when its :func:`effect_z`, pooling the type's cells, is at
        least ``z_min``.

    Returns
    -------
    xarray.DataArray
        int8 (..., type).
    """
    mean_change = by_type(change)
    z = effect_z(mean_change, by_type(baseline), recording_s, type_counts(baseline))
    direction = cast(xr.DataArray, np.sign(mean_change))  # xarray implements numpy's ufuncs
    category = (direction * (z >= z_min)).astype(np.int8)
    category.attrs = {"long_name": "direction of each type's mean change that would be seen (+1, 0, -1)"}
    return category


def released_change(change: np.ndarray) -> np.ndarray:
    """The change of a block of a set's inhibitory outputs only, from the change of its silencing.

    Parameters
    ----------
    change : numpy.ndarray
        (..., cell) mean rate with the set silenced minus unperturbed.

    Returns
    -------
    numpy.ndarray
        The rises kept, the falls set to zero: a cell whose rate the silencing raises is inhibited
        by the set on balance and reads the network with the set silenced; every other cell reads
        the intact network (see ``docs/concepts/hypotheses-method.md``, Inhibitory outputs).
    """
    return np.clip(change, 0.0, None)
