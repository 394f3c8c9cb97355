"""Epochs of an NWB file: time intervals given by name (the epochs table, or any intervals
table) or by (start, stop) in seconds, and the stimulus frames within them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

import numpy as np

from ...errors import RetinaCodecError

Epoch = str | tuple[float, float]
"""An epoch: a name, or (start, stop) in s."""


def epoch_intervals(nwbfile, epochs: Epoch | Sequence[Epoch], label: str) -> list[tuple[float, float]]:
    """(start, stop) in s of every interval of ``epochs``.

    A name is looked up among the rows of the epochs table (a row whose ``tags`` hold the name,
    or whose text column, such as ``stimulus_name``, equals it), then among the intervals tables
    (every row of the table of that name).
    """
    items = [epochs] if isinstance(epochs, str) or _is_interval(epochs) else list(epochs)
    if not items:
        raise RetinaCodecError("epochs is empty; expected a name, (start, stop) in s, or a list of these")
    intervals: list[tuple[float, float]] = []
    for item in items:
        if isinstance(item, str):
            intervals += _named(nwbfile, item, label)
        elif _is_interval(item):
            start, stop = float(item[0]), float(item[1])
            if not (np.isfinite(start) and np.isfinite(stop) and start < stop):
                raise RetinaCodecError(f"epoch {item!r} is not an interval; expected (start, stop) in s, start < stop")
            intervals.append((start, stop))
        else:
            raise RetinaCodecError(f"epoch {item!r} is neither a name nor (start, stop); expected one of these")
    return intervals


def frames_in(frame_times: np.ndarray, intervals: list[tuple[float, float]], label: str) -> np.ndarray:
    """Sorted indices of the frames whose onset lies in any ``[start, stop)`` of ``intervals``."""
    inside = np.zeros(frame_times.size, dtype=bool)
    for start, stop in intervals:
        inside |= (frame_times >= start) & (frame_times < stop)
    if not inside.any():
        span = f"{frame_times[0]:g}-{frame_times[-1]:g} s"
        raise RetinaCodecError(
            f"no stimulus frame of {label} lies in the epochs {intervals}; expected epochs that overlap "
            f"the stimulus ({span})"
        )
    return np.flatnonzero(inside)


def _is_interval(item: object) -> TypeGuard[Sequence[float]]:
    return (
        isinstance(item, (tuple, list))
        and len(item) == 2
        and all(isinstance(value, (int, float, np.number)) and not isinstance(value, bool) for value in item)
    )


def _named(nwbfile, name: str, label: str) -> list[tuple[float, float]]:
    table = nwbfile.epochs
    if table is not None and len(table):
        rows = np.zeros(len(table), dtype=bool)
        for column in table.colnames:
            if column == "tags":
                rows |= np.array([name in tags for tags in table["tags"][:]])
            elif column not in ("start_time", "stop_time"):
                values = np.asarray(table[column].data[:])
                if values.ndim == 1 and values.dtype.kind in "OUS":
                    rows |= values.astype(str) == name
        if rows.any():
            return _rows(table, rows)
    intervals = nwbfile.intervals or {}
    if name in intervals and len(intervals[name]):
        return _rows(intervals[name], np.ones(len(intervals[name]), dtype=bool))
    raise RetinaCodecError(
        f"no epoch named {name!r} in {label}; expected a tag or name of the epochs table "
        f"({_epoch_names(table)}) or an intervals table ({sorted(intervals)})"
    )


def _rows(table, rows: np.ndarray) -> list[tuple[float, float]]:
    start = np.asarray(table["start_time"].data[:], dtype=np.float64)[rows]
    stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)[rows]
    return [(float(a), float(b)) for a, b in zip(start, stop)]


def _epoch_names(table) -> list[str]:
    if table is None or "tags" not in table.colnames:
        return []
    return sorted({str(tag) for tags in table["tags"][:] for tag in tags})
