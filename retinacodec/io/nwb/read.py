"""Read a stimulus movie and binned spike counts from an NWB recording, in the layouts labs write."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import xarray as xr
from pynwb import NWBHDF5IO, NWBFile, get_nwbfile_version

from ... import __version__
from ...errors import RetinaCodecError
from .choose import session_span, stimulus_movie
from .epochs import Epoch, epoch_intervals, frames_in
from .frames import contrast_movie
from .units import UnitFilter, select_units, spike_counts, unit_coords, unit_trains


def read_nwb(
    source: str | os.PathLike | NWBFile,
    stimulus: str | None = None,
    *,
    epochs: Epoch | Sequence[Epoch] | None = None,
    units: UnitFilter | None = None,
    electrode_groups: str | Sequence[str] | None = None,
) -> xr.Dataset:
    r"""Read a stimulus movie and the spike counts of the chosen units from an NWB file.

    Parameters
    ----------
    source : str, path-like or pynwb.NWBFile
        An NWB 2.x file (HDF5), or a file already open with pynwb (left open).
    stimulus : str, optional
        Name of the stimulus: an ``ImageSeries`` (or ``OpticalSeries``) or ``IndexSeries`` in
        ``nwbfile.stimulus`` (looked up first) or ``nwbfile.acquisition``, or a presentations
        table in ``nwbfile.intervals``. Needed when the file holds several.
    epochs : str, (float, float) or a list of these, optional
        Keep only the frames whose onset lies in these intervals: a name (rows of the epochs
        table whose ``tags`` or text column hold it, else every row of the intervals table of
        that name) or ``(start, stop)`` in s. Several epochs are joined in time order.
    units : str, sequence of str or mapping, optional
        Keep only the units that meet every condition: ``"COLUMN==VALUE"`` (or ``!=``, ``<``,
        ``<=``, ``>``, ``>=``) on a column of the units table, e.g. ``"quality==good"``, or a
        mapping of column to a value or a list of accepted values.
    electrode_groups : str or sequence of str, optional
        Keep only the units recorded on these electrode groups (by name).

    Returns
    -------
    xarray.Dataset
        ``stimulus`` : float32 (time, y, x), contrast; attrs ``frame_rate_hz``, ``units``,
        ``source_file``, ``series_name``, ``nwb_unit`` (and ``template``,
        ``colour_conversion``, ``full_field_column`` where they apply).
        ``spikes`` : int64 (time, cell), each unit's spikes counted in the frame bins.
        Coords: ``time`` (s, the frame onsets), ``y``, ``x`` (pixels), ``cell`` (unit ids) and
        every per-unit column of the units table along ``cell`` (e.g. ``cell_type``; an
        ``electrode_group`` by its name; a column named like a dim, such as ``x``, becomes
        ``cell_x``; a vector column of at most :data:`MAX_POSITION_COMPONENTS` values becomes a
        (cell, <name>_axis) coord).
        ``repeat_start`` : int64 (repeat,), only when the file has a trials table (or an
        intervals table named ``repeats``): the first frame of each row, attr ``repeat_frames``
        (the frames of the shortest row), for repeats of one frozen stimulus segment; with
        ``epochs``, only the rows that lie wholly in them.
        ``epoch_start`` : int64 (stretch,), only with ``epochs``: the first frame of each stretch
        of consecutive frames kept.
        Attrs ``source_file``, ``session_description``, ``identifier``, ``stimulus_name`` (and
        ``epochs``, ``unit_selection`` when given).

    Raises
    ------
    RetinaCodecError
        If the file is missing or not an NWB file, holds no stimulus or no units table, the
        stimulus name is ambiguous or unknown, the stimulus data are not finite frames
        ``[frame][x][y]`` (or ``[frame][x][y][r, g, b]``), external movie files are missing or no video
        reader is installed, an epoch or unit column is unknown or keeps nothing, a unit has NaN
        or infinite spike times, or more than :data:`OUTSIDE_SHARE` of all spikes fall outside
        the stimulus (spike times in ms, say).

    Notes
    -----
    The layouts read (see the guide "NWB layouts"): frames stored in an ``ImageSeries``
    ``[frame][x][y]``; colour frames ``[frame][x][y][r, g, b]``, made luminance with
    :data:`LUMINANCE_WEIGHTS` (a warning says so); frames in external movie files, read with
    imageio or OpenCV; an ``IndexSeries`` playing a template (an ``Images`` or an
    ``ImageSeries``, usually in ``stimulus_template``); a presentations table whose rows give a
    template frame (``frame``) or a full-field value (``contrast``, ``color``, ``luminance``,
    ``intensity``) per presentation, sampled at one frame per median presentation.

    Frame times are ``starting_time + arange(n_frames) / rate`` or the series' ``timestamps``;
    ``frame_rate_hz`` is ``rate`` or ``1 / median(diff(timestamps))``. Stored values are scaled
    by the series' ``conversion`` and ``offset`` as the NWB schema prescribes. A series whose unit
    contains "contrast" is kept as it is; any other unit is taken for a luminance :math:`L` and
    converted to Weber contrast :math:`(L - \bar L) / \bar L` around the mean :math:`\bar L`
    over all frames kept and pixels (attrs ``contrast_conversion`` and ``mean_luminance`` record it).

    Spike counts are ``numpy.histogram(spike_times, edges)`` with ``edges`` the frame times of the
    whole stimulus followed by ``last frame time + 1 / frame_rate_hz``: spikes before the first
    frame or after the last bin are dropped, a spike exactly on the final edge is counted in the
    last frame. With ``epochs`` the counts of the frames kept are returned.
    """
    with _open(source) as (nwbfile, label, folder):
        movie = stimulus_movie(nwbfile, stimulus, label, folder)
        intervals = None if epochs is None else epoch_intervals(nwbfile, epochs, label)
        every = np.arange(movie.frame_times.size)
        kept = every if intervals is None else frames_in(movie.frame_times, intervals, label)
        stim = contrast_movie(movie, kept, label)
        if nwbfile.units is None:
            raise RetinaCodecError(f"{label} has no units table; expected spike-sorted units in nwbfile.units")
        ids, trains = unit_trains(nwbfile.units, label)
        chosen = select_units(nwbfile.units, units, electrode_groups, label)
        counts = spike_counts(
            [train for train, keep in zip(trains, chosen) if keep],
            ids[chosen],
            movie.frame_times,
            movie.frame_rate_hz,
            label,
            session_span(nwbfile),
        )
        spikes = xr.DataArray(
            counts[kept],
            dims=("time", "cell"),
            coords={"time": stim["time"], "cell": ids[chosen]},
            name="spikes",
            attrs={"units": "spikes per frame"},
        )
        cell_coords = unit_coords(nwbfile.units, chosen)
        repeats = _repeat_table(nwbfile, movie.frame_times, kept, label)
        attrs = {
            "source_file": label,
            "session_description": str(nwbfile.session_description),
            "identifier": str(nwbfile.identifier),
            "stimulus_name": movie.name,
            "retinacodec_version": __version__,
        }
    variables = {"stimulus": stim, "spikes": spikes}
    if repeats is not None:
        variables["repeat_start"] = repeats
    if intervals is not None:
        attrs["epochs"] = str(intervals)
        stretches = np.r_[0, np.flatnonzero(np.diff(kept) > 1) + 1].astype(np.int64)
        variables["epoch_start"] = xr.DataArray(stretches, dims=("stretch",), name="epoch_start")
    if units is not None or electrode_groups is not None:
        attrs["unit_selection"] = f"units={units!r}, electrode_groups={electrode_groups!r}"
    return xr.Dataset(variables, attrs=attrs).assign_coords(cell_coords)


@contextmanager
def _open(source: str | os.PathLike | NWBFile) -> Iterator[tuple[NWBFile, str, Path | None]]:
    """(the NWB file, its path or name for messages, the folder external files are relative to)."""
    if isinstance(source, NWBFile):
        where = source.container_source
        yield source, str(where or f"NWBFile {source.identifier!r}"), Path(where).parent if where else None
        return
    if not isinstance(source, (str, os.PathLike)):
        raise RetinaCodecError(
            f"source is a {type(source).__name__}; expected the path of an NWB file or an open pynwb.NWBFile"
        )
    path = Path(source)
    _check_nwb_file(path)
    with NWBHDF5IO(str(path), "r") as io:
        yield io.read(), str(path), path.parent


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


REPEAT_TABLES = ("trials", "repeats")
"""Interval tables read as repeats of a frozen stimulus segment, in order of preference."""


def _repeat_table(nwbfile: NWBFile, frame_times: np.ndarray, kept: np.ndarray, label: str) -> xr.DataArray | None:
    """First frame (among the frames ``kept``) of every row of the trials (or ``repeats``) table
    that lies wholly in the kept frames, or None without one."""
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
            f"the {table.name} table of {label} has rows outside the stimulus or shorter than two "
            f"frames; expected each row to span a stretch of the stimulus"
        )
    if kept.size < frame_times.size:
        dropped = np.r_[0, np.cumsum(~np.isin(np.arange(frame_times.size), kept))]
        whole = dropped[last] == dropped[first]
        if not whole.any():
            return None
        first, last = np.searchsorted(kept, first[whole]), np.searchsorted(kept, last[whole])
    return xr.DataArray(
        first.astype(np.int64),
        dims=("repeat",),
        name="repeat_start",
        attrs={"repeat_frames": int((last - first).min()), "source": f"{table.name} table"},
    )
