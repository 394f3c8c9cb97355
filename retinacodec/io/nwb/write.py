"""Write a stimulus movie and spike trains to an NWB file: an inline ``ImageSeries``
``[frame][x][y]`` and a units table, the layout :func:`retinacodec.io.read_nwb` reads first."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike
from pynwb import NWBHDF5IO, NWBFile
from pynwb.image import ImageSeries

from ...errors import RetinaCodecError
from ..atomic import atomic_destination
from ..cf import DIMENSIONLESS
from .frames import MOVIE_DIMS, is_contrast


def write_nwb(
    path: str | os.PathLike,
    stimulus: xr.DataArray,
    spike_times: Sequence[ArrayLike],
    cell_type: Sequence[str] | None = None,
    *,
    cell_ids: Sequence[int] | None = None,
    stimulus_name: str = "stimulus",
    session_description: str = "retinacodec recording",
    identifier: str | None = None,
    session_start_time: datetime | None = None,
) -> Path:
    """Write a stimulus movie and spike trains to an NWB file, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; written to a temporary file in the same folder, then renamed into place.
    stimulus : xarray.DataArray
        Contrast movie, dims (time, y, x), attrs ``frame_rate_hz`` and ``units`` (``"1"``: contrast).
        Stored as an ``ImageSeries`` ``[frame][x][y]`` with unit "contrast", ``rate`` and
        ``starting_time`` (the first time coord), or ``timestamps`` when the time coord is not
        evenly spaced at ``frame_rate_hz``.
    spike_times : sequence of array-like
        One 1-D array of spike times (s) per cell.
    cell_type : sequence of str, optional
        One label per cell, stored as the units column ``cell_type``.
    cell_ids : sequence of int, optional
        Unit ids (default 0, 1, ...); :func:`read_nwb` returns them as the ``cell`` coord.
    stimulus_name : str
        Name of the ``ImageSeries``.
    session_description, identifier : str
        NWB session metadata; ``identifier`` defaults to a random UUID.
    session_start_time : datetime.datetime, optional
        Timezone-aware start of the session; defaults to now (UTC).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    RetinaCodecError
        If the stimulus is not a finite contrast movie (time, y, x) with a positive
        ``frame_rate_hz``, a spike train is not a finite 1-D array, or ``cell_type`` /
        ``cell_ids`` do not give one entry per cell.
    """
    stim = _movie(stimulus)
    units = stim.attrs.get("units", DIMENSIONLESS)
    if units != DIMENSIONLESS and not is_contrast(units):
        raise RetinaCodecError(
            f"stimulus units are {units!r}; expected contrast, units '1' (convert luminance to contrast first)"
        )
    trains = [_spike_train(times, index) for index, times in enumerate(spike_times)]
    ids = list(range(len(trains))) if cell_ids is None else [int(i) for i in cell_ids]
    for label, values in (("cell_ids", ids), ("cell_type", cell_type)):
        if values is not None and len(values) != len(trains):
            raise RetinaCodecError(f"{label} has {len(values)} entries; expected one per cell ({len(trains)})")
    if len(set(ids)) != len(ids):
        raise RetinaCodecError(f"cell_ids {ids} repeat an id; expected unique unit ids")

    nwbfile = NWBFile(
        session_description=session_description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.now(UTC),
    )
    nwbfile.add_stimulus(
        ImageSeries(
            name=stimulus_name,
            data=np.ascontiguousarray(stim.values.transpose(0, 2, 1)),
            unit="contrast",
            description=f"retinacodec stimulus (kind={stim.attrs.get('kind', 'unknown')})",
            **_timing(stim),
        )
    )
    if cell_type is not None:
        nwbfile.add_unit_column(name="cell_type", description="cell type label")
    for index, (unit_id, train) in enumerate(zip(ids, trains)):
        columns = {} if cell_type is None else {"cell_type": str(cell_type[index])}
        nwbfile.add_unit(spike_times=train, id=unit_id, **columns)

    path = Path(path)
    with atomic_destination(path) as tmp:
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
    return path


def _movie(stimulus: xr.DataArray) -> xr.DataArray:
    """The stimulus as the frames an ImageSeries stores: a DataArray (time, y, x) of finite values
    with a positive ``frame_rate_hz`` attr.

    Raises
    ------
    RetinaCodecError
        For anything else.
    """
    if not isinstance(stimulus, xr.DataArray) or set(stimulus.dims) != set(MOVIE_DIMS):
        raise RetinaCodecError(
            f"stimulus has dims {getattr(stimulus, 'dims', type(stimulus).__name__)}; expected an "
            "xarray.DataArray with dims (time, y, x)"
        )
    rate = stimulus.attrs.get("frame_rate_hz")
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not np.isfinite(rate) or rate <= 0:
        raise RetinaCodecError(
            f"stimulus attr frame_rate_hz is {rate!r}; expected a positive number of frames per second"
        )
    if not np.issubdtype(stimulus.dtype, np.number) or not np.isfinite(stimulus.values).all():
        raise RetinaCodecError("stimulus holds NaN, infinite or non-numeric values; expected finite contrast")
    return stimulus.transpose(*MOVIE_DIMS)


def _spike_train(times: ArrayLike, index: int) -> np.ndarray:
    train = np.asarray(times, dtype=np.float64)
    if train.ndim != 1 or not np.isfinite(train).all():
        raise RetinaCodecError(
            f"spike train {index} has shape {train.shape} or non-finite values; "
            "expected a 1-D array of finite spike times in seconds"
        )
    return train


def _timing(stim: xr.DataArray) -> dict:
    """ImageSeries timing arguments: ``rate`` and ``starting_time`` when the time coord is
    evenly spaced at ``frame_rate_hz``, else explicit ``timestamps``."""
    times = stim["time"].values.astype(np.float64)
    rate = float(stim.attrs["frame_rate_hz"])
    if np.allclose(times, times[0] + np.arange(times.size) / rate, rtol=0, atol=1e-9):
        return {"rate": rate, "starting_time": float(times[0])}
    return {"timestamps": times}
