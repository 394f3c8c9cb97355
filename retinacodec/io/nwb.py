"""NWB recordings: read a stimulus movie and binned spike counts, write them back.

NWB stores an ``ImageSeries`` as ``data[frame][x][y]`` (``nwb.image.yaml`` in the NWB core
schema); retinacodec's stimulus convention is (time, y, x), so both directions transpose the two
pixel axes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import xarray as xr
from hdmf.common import DynamicTableRegion, VectorIndex
from numpy.typing import ArrayLike
from pynwb import NWBHDF5IO, NWBFile, get_nwbfile_version
from pynwb.image import ImageSeries
from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

from .. import __version__
from ..errors import RetinaCodecError
from .atomic import atomic_destination
from .cf import CONTRAST_LONG_NAME, DIMENSIONLESS, PIXEL_X, PIXEL_Y, TIME

MAX_POSITION_COMPONENTS = 3
"""Widest per-unit vector column kept as a coord (a position in x, y[, z])."""
_MICROSCOPY_SERIES = (TwoPhotonSeries, OnePhotonSeries)
MOVIE_DIMS = ("time", "y", "x")
"""Dims of the stimulus movie read and written, in the order of retinacodec's convention."""
_STIMULUS_DIMS = {"time", "y", "x", "cell"}
READ_CHUNK_BYTES = 64 * 2**20
"""Stored frames are read and scaled in blocks of about this many bytes (as float64)."""


def read_nwb(path: str | os.PathLike, stimulus: str | None = None) -> xr.Dataset:
    r"""Read a stimulus movie and the spike counts of every unit from an NWB file.

    Parameters
    ----------
    path : str or path-like
        An NWB 2.x file (HDF5).
    stimulus : str, optional
        Name of the ``ImageSeries`` to use. Needed when the file holds several; looked up in
        ``nwbfile.stimulus`` first, then ``nwbfile.acquisition``.

    Returns
    -------
    xarray.Dataset
        ``stimulus`` : float32 (time, y, x), contrast; attrs ``frame_rate_hz``, ``units``,
        ``source_file``, ``series_name``, ``nwb_unit``.
        ``spikes`` : int64 (time, cell), each unit's spikes counted in the frame bins.
        Coords: ``time`` (s, the frame onsets), ``y``, ``x`` (pixels), ``cell`` (unit ids) and
        every per-unit column of the units table along ``cell`` (e.g. ``cell_type``; a column
        named like a dim, such as ``x``, becomes ``cell_x``; a vector column of at most
        :data:`MAX_POSITION_COMPONENTS` values becomes a (cell, <name>_axis) coord).
        ``repeat_start`` : int64 (repeat,), only when the file has a trials table (or an
        intervals table named ``repeats``): the first frame of each row, attr ``repeat_frames``
        (the frames of the shortest row), for repeats of one frozen stimulus segment.
        Attrs ``source_file``, ``session_description``, ``identifier``, ``stimulus_name``.

    Raises
    ------
    RetinaCodecError
        If the file is missing or not an NWB file, holds no ``ImageSeries`` stimulus or no units
        table, the stimulus name is ambiguous or unknown, the stimulus data are not finite
        (frame, x, y) frames, a unit has NaN or infinite spike times, or more than
        :data:`OUTSIDE_SHARE` of all spikes fall outside the stimulus (spike times in ms, say).

    Notes
    -----
    Frame times are ``starting_time + arange(n_frames) / rate`` or the series' ``timestamps``;
    ``frame_rate_hz`` is ``rate`` or ``1 / median(diff(timestamps))``. Stored values are scaled
    by the series' ``conversion`` and ``offset`` as the NWB schema prescribes. A series whose unit
    contains "contrast" is kept as it is; any other unit is taken for a luminance :math:`L` and
    converted to Weber contrast :math:`(L - \bar L) / \bar L` around the mean :math:`\bar L`
    over all frames and pixels (attrs ``contrast_conversion`` and ``mean_luminance`` record it).

    Spike counts are ``numpy.histogram(spike_times, edges)`` with ``edges`` the frame times
    followed by ``last frame time + 1 / frame_rate_hz``: spikes before the first frame or after
    the last bin are dropped, a spike exactly on the final edge is counted in the last frame.
    """
    path = Path(path)
    _check_nwb_file(path)
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        series = _choose_series(nwbfile, stimulus, path)
        stim = _read_stimulus(series, path)
        if nwbfile.units is None:
            raise RetinaCodecError(f"{path} has no units table; expected spike-sorted units in nwbfile.units")
        spikes = _spike_counts(nwbfile.units, stim, path)
        cell_coords = _unit_coords(nwbfile.units)
        repeats = _repeat_table(nwbfile, stim["time"].values, path)
        attrs = {
            "source_file": str(path),
            "session_description": str(nwbfile.session_description),
            "identifier": str(nwbfile.identifier),
            "stimulus_name": series.name,
            "retinacodec_version": __version__,
        }
    variables = {"stimulus": stim, "spikes": spikes}
    if repeats is not None:
        variables["repeat_start"] = repeats
    return xr.Dataset(variables, attrs=attrs).assign_coords(cell_coords)


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
    if units != DIMENSIONLESS and not _is_contrast(units):
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


def _check_nwb_file(path: Path) -> None:
    if not path.is_file():
        raise RetinaCodecError(f"NWB file not found: {path} (expected an existing .nwb file)")
    if not h5py.is_hdf5(path):
        raise RetinaCodecError(f"{path} is not an HDF5 file; expected an NWB 2.x (HDF5) file")
    try:
        with h5py.File(path, "r") as h5:
            version, _ = get_nwbfile_version(h5)
    except OSError as exc:
        raise RetinaCodecError(f"cannot open {path} ({exc}); expected a complete NWB 2.x (HDF5) file") from None
    if version is None:
        raise RetinaCodecError(f"{path} is HDF5 but has no NWB version attribute; expected an NWB 2.x file")


def _image_series(group) -> dict[str, ImageSeries]:
    return {
        name: obj
        for name, obj in group.items()
        if isinstance(obj, ImageSeries) and not isinstance(obj, _MICROSCOPY_SERIES)
    }


def _choose_series(nwbfile: NWBFile, name: str | None, path: Path) -> ImageSeries:
    in_stimulus = _image_series(nwbfile.stimulus)
    in_acquisition = _image_series(nwbfile.acquisition)
    if name is not None:
        found = in_stimulus.get(name, in_acquisition.get(name))
        if found is None:
            valid = sorted({*in_stimulus, *in_acquisition})
            raise RetinaCodecError(f"no ImageSeries named {name!r} in {path}; expected one of {valid}")
        return found
    candidates = in_stimulus or in_acquisition
    if not candidates:
        raise RetinaCodecError(
            f"{path} holds no ImageSeries stimulus (looked in stimulus and acquisition); "
            "expected the stimulus movie as an ImageSeries"
        )
    if len(candidates) > 1:
        raise RetinaCodecError(
            f"{path} holds several ImageSeries stimuli {sorted(candidates)}; "
            "expected one chosen by name with stimulus=..."
        )
    return next(iter(candidates.values()))


def _read_stimulus(series: ImageSeries, path: Path) -> xr.DataArray:
    where = f"ImageSeries {series.name!r} in {path}"
    external = list(series.external_file[:]) if series.external_file is not None else []
    if external:
        raise RetinaCodecError(
            f"{where} keeps its frames in external files ({', '.join(map(str, external))}); expected "
            "the frames stored in the NWB file itself (ImageSeries data [frame][x][y])"
        )
    data = _scaled_frames(series, where)
    frame_times, frame_rate_hz = _frame_times(series, data.shape[0], where)

    attrs: dict = {}
    if not _is_contrast(series.unit):
        mean = float(data.mean(dtype=np.float64))
        if mean <= 0:
            raise RetinaCodecError(
                f"{where} has unit {series.unit!r} (taken for a luminance) with mean {mean}; "
                "expected a positive mean luminance, or unit 'contrast'"
            )
        data -= np.float32(mean)
        data /= np.float32(mean)
        attrs = {
            "contrast_conversion": f"Weber contrast (L - mean) / mean, L in {series.unit}",
            "mean_luminance": mean,
        }
    return xr.DataArray(
        data,
        dims=MOVIE_DIMS,
        coords={
            "time": ("time", frame_times, dict(TIME)),
            "y": ("y", np.arange(data.shape[1]), dict(PIXEL_Y)),
            "x": ("x", np.arange(data.shape[2]), dict(PIXEL_X)),
        },
        name="stimulus",
        attrs={
            "frame_rate_hz": float(frame_rate_hz),
            "units": DIMENSIONLESS,
            "long_name": CONTRAST_LONG_NAME,
            "kind": "nwb",
            "source_file": str(path),
            "series_name": series.name,
            "nwb_unit": str(series.unit),
            **attrs,
        },
    )


def _scaled_frames(series: ImageSeries, where: str) -> np.ndarray:
    """float32 (time, y, x) frames ``stored x conversion + offset``, read in chunks of about
    :data:`READ_CHUNK_BYTES` so an integer movie is never held as float64."""
    stored = series.data
    shape = tuple(getattr(stored, "shape", np.shape(stored)))
    if len(shape) != 3 or shape[0] == 0:
        raise RetinaCodecError(f"{where} has data of shape {shape}; expected stored frames [frame][x][y]")
    frames = np.empty((shape[0], shape[2], shape[1]), dtype=np.float32)
    step = max(1, READ_CHUNK_BYTES // max(1, 8 * shape[1] * shape[2]))
    bad = 0
    for start in range(0, shape[0], step):
        block = np.asarray(stored[start : start + step])
        if not np.issubdtype(block.dtype, np.integer):
            bad += int((~np.isfinite(block)).sum())
        chunk = frames[start : start + step]
        chunk[...] = block.transpose(0, 2, 1)
        chunk *= np.float32(series.conversion)
        chunk += np.float32(series.offset)
    if bad:
        raise RetinaCodecError(f"{where} holds {bad} NaN or infinite values; expected finite pixel values")
    return frames


def _frame_times(series: ImageSeries, n_frames: int, where: str) -> tuple[np.ndarray, float]:
    """Frame onset times (s) and the frame rate (Hz) of ``series``."""
    if series.rate is not None:
        rate = float(series.rate)
        if not np.isfinite(rate) or rate <= 0:
            raise RetinaCodecError(f"{where} has rate {rate}; expected a positive frame rate in Hz")
        start = float(series.starting_time or 0.0)
        return start + np.arange(n_frames) / rate, rate
    times = np.asarray(series.timestamps[:], dtype=np.float64)
    if times.shape != (n_frames,):
        raise RetinaCodecError(f"{where} has {times.size} timestamps for {n_frames} frames; expected one per frame")
    intervals = np.diff(times)
    if n_frames < 2 or not np.isfinite(times).all() or (intervals <= 0).any():
        raise RetinaCodecError(
            f"{where} has timestamps that are not finite and strictly increasing over at least "
            "two frames; expected increasing frame times in seconds"
        )
    return times, float(1.0 / np.median(intervals))


def _spike_counts(units, stim: xr.DataArray, path: Path) -> xr.DataArray:
    """Count each unit's spikes in the frame bins of ``stim``: int64 (time, cell)."""
    if "spike_times" not in units.colnames:
        raise RetinaCodecError(f"units table of {path} has no spike_times column; expected one")
    ids = np.asarray(units.id[:])
    if ids.size == 0:
        raise RetinaCodecError(f"units table of {path} is empty; expected at least one unit")
    frame_times = stim["time"].values
    edges = np.append(frame_times, frame_times[-1] + 1.0 / stim.attrs["frame_rate_hz"])
    index = units["spike_times"]
    all_times = np.asarray(index.target.data[:], dtype=np.float64)
    trains = np.split(all_times, np.asarray(index.data[:])[:-1])
    _check_spike_times(trains, ids, (edges[0], edges[-1]), path)
    counts = np.column_stack([np.histogram(train, bins=edges)[0] for train in trains])
    return xr.DataArray(
        counts.astype(np.int64),
        dims=("time", "cell"),
        coords={"time": stim["time"], "cell": ids},
        name="spikes",
        attrs={"units": "spikes per frame"},
    )


OUTSIDE_SHARE = 0.5
"""Largest share of all spikes outside the stimulus's time span that is read as spikes recorded
before or after the stimulus rather than as spike times in the wrong unit or clock."""


def _check_spike_times(trains: list[np.ndarray], ids: np.ndarray, span: tuple[float, float], path: Path) -> None:
    """Refuse NaN or infinite spike times, and spike times mostly outside ``span`` (s)."""
    for unit_id, train in zip(ids, trains):
        if not np.isfinite(train).all():
            raise RetinaCodecError(
                f"unit {unit_id} of {path} has {int((~np.isfinite(train)).sum())} NaN or infinite spike "
                "times; expected finite spike times in seconds"
            )
    start, end = span
    pooled = np.concatenate(trains)
    outside = float(np.mean((pooled < start) | (pooled > end))) if pooled.size else 0.0
    if outside <= OUTSIDE_SHARE:
        return
    after = np.mean(pooled > end) >= np.mean(pooled < start)
    shares = [float(np.mean(train > end if after else train < start)) if train.size else 0.0 for train in trains]
    worst = int(np.argmax(shares))
    where = f"after the stimulus ends at {end:g} s" if after else f"before the stimulus starts at {start:g} s"
    in_ms = np.mean((pooled / 1000.0 >= start) & (pooled / 1000.0 <= end)) > OUTSIDE_SHARE
    hint = "spike times in ms?" if in_ms else "spike times on another clock?"
    raise RetinaCodecError(
        f"{100 * shares[worst]:.1f}% of unit {ids[worst]}'s spikes in {path} fall {where} ({100 * outside:.1f}% "
        f"of all spikes lie outside the stimulus); {hint} expected spike times in seconds on the stimulus's clock"
    )


REPEAT_TABLES = ("trials", "repeats")
"""Interval tables read as repeats of a frozen stimulus segment, in order of preference."""


def _repeat_table(nwbfile: NWBFile, frame_times: np.ndarray, path: Path) -> xr.DataArray | None:
    """First frame of every row of the trials (or ``repeats``) table, or None without one."""
    table = next(
        (
            nwbfile.intervals[name]
            for name in REPEAT_TABLES
            if nwbfile.intervals is not None and name in nwbfile.intervals
        ),
        None,
    )
    if table is None or len(table) == 0:
        return None
    start = np.asarray(table["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    first = np.searchsorted(frame_times, start - 1e-9)
    last = np.searchsorted(frame_times, stop - 1e-9)
    if (last - first < 2).any() or (first >= frame_times.size).any():
        raise RetinaCodecError(
            f"the {table.name} table of {path} has rows outside the stimulus or shorter than two "
            f"frames; expected each row to span a stretch of the stimulus"
        )
    return xr.DataArray(
        first.astype(np.int64),
        dims=("repeat",),
        name="repeat_start",
        attrs={"repeat_frames": int((last - first).min()), "source": f"{table.name} table"},
    )


def _unit_coords(units) -> dict[str, tuple]:
    """Per-unit columns of the units table as coords along ``cell``.

    Ragged columns (spike times, intervals) and references to other tables are skipped, as are
    vector columns wider than :data:`MAX_POSITION_COMPONENTS`.
    """
    coords: dict[str, tuple] = {}
    for name in units.colnames:
        column = units[name]
        if isinstance(column, (VectorIndex, DynamicTableRegion)):
            continue
        values = np.asarray(column.data[:])
        if values.dtype == object:
            values = values.astype(str)
        coord_name = f"cell_{name}" if name in _STIMULUS_DIMS else name
        if values.ndim == 1:
            coords[coord_name] = ("cell", values)
        elif values.ndim == 2 and values.shape[1] <= MAX_POSITION_COMPONENTS:
            coords[coord_name] = (("cell", f"{coord_name}_axis"), values)
    return coords


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


def _is_contrast(unit: str) -> bool:
    return "contrast" in str(unit).lower()


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
