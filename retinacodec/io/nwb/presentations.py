"""Movies of a presentations table: an intervals table with one row per presentation whose
parameters define the frames, either a frame of a template or a full-field value."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import RetinaCodecError
from .frames import Movie
from .series import template_frames

FRAME_COLUMNS = ("frame", "image_index")
"""Columns that index a template frame per presentation, in order of preference."""
FULL_FIELD_COLUMNS = {"contrast": "contrast", "color": "contrast", "luminance": "n.a.", "intensity": "n.a."}
"""Columns that give a full-field value per presentation, and their unit ("n.a." is a luminance)."""
SPATIAL_COLUMNS = ("orientation", "spatial_frequency", "phase", "size")
"""Columns of a pattern (a grating, say) that a full-field value cannot stand for."""
NOT_PRESENTATIONS = ("trials", "epochs", "invalid_times")
"""Interval tables that are never read as presentations."""


def presentation_tables(nwbfile) -> dict:
    """Intervals tables of ``nwbfile`` with a frame or full-field parameter column, by name."""
    intervals = nwbfile.intervals or {}
    return {
        name: table
        for name, table in intervals.items()
        if name not in NOT_PRESENTATIONS and _parameter(table) is not None
    }


def presentation_movie(table, nwbfile, folder: Path | None, where: str) -> Movie:
    """The movie of a presentations table, sampled at one frame per median presentation.

    Frame ``k`` starts at ``start_time[0] + k / rate`` with ``rate = 1 / median(stop - start)``
    and shows the row whose ``[start_time, stop_time)`` holds the frame's middle: the template
    frame of its ``frame`` column (templates in ``stimulus_template``), or a 1 x 1 full-field
    value of its ``contrast``/``color`` (contrast) or ``luminance``/``intensity`` column. Frames
    no row covers are blank (mean grey).
    """
    column = _parameter(table)
    if column is None:
        raise RetinaCodecError(
            f"{where} has no frame or full-field column; expected one of "
            f"{', '.join((*FRAME_COLUMNS, *FULL_FIELD_COLUMNS))}"
        )
    start = np.asarray(table["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    durations = stop - start
    if start.size == 0 or not np.isfinite(durations).all() or (durations <= 0).any() or (np.diff(start) < 0).any():
        raise RetinaCodecError(
            f"{where} has rows with start and stop times that are not finite, increasing and "
            "positive in duration; expected one row per presentation, in time order"
        )
    rate = float(1.0 / np.median(durations))
    times = start[0] + np.arange(max(1, int(round((stop[-1] - start[0]) * rate)))) / rate
    row = np.searchsorted(start, times + 0.5 / rate, side="right") - 1
    blank = (row < 0) | (stop[np.maximum(row, 0)] <= times + 0.5 / rate)
    row = np.where(blank, 0, row)
    values = np.asarray(table[column].data[:])
    if column in FRAME_COLUMNS:
        template = _template_of(table, nwbfile, where)
        read_template, unit, n_frames, attrs = template_frames(template, folder, where)
        _check_indices(values, n_frames, where)
        frame = values.astype(np.int64)[row]

        def read(indices: np.ndarray) -> np.ndarray:
            shown, inverse = np.unique(frame[indices], return_inverse=True)
            return read_template(shown)[inverse]

        return Movie(table.name, where, times, rate, unit, read, blank=blank, attrs=attrs)
    _check_full_field(table, values, column, where)
    field = values.astype(np.float32)[row]
    return Movie(
        table.name,
        where,
        times,
        rate,
        FULL_FIELD_COLUMNS[column],
        lambda indices: field[indices].reshape(-1, 1, 1).copy(),
        blank=blank,
        attrs={"full_field_column": column},
    )


def _parameter(table) -> str | None:
    names = set(table.colnames)
    return next((name for name in (*FRAME_COLUMNS, *FULL_FIELD_COLUMNS) if name in names), None)


def _template_of(table, nwbfile, where: str):
    """The ``stimulus_template`` entry that a presentations table indexes: the one named like the
    table (without ``_presentations``) or like its ``stimulus_name`` values, or the only one."""
    templates = dict(nwbfile.stimulus_template)
    names = [table.name, table.name.removesuffix("_presentations")]
    if "stimulus_name" in table.colnames:
        names += sorted({str(name) for name in table["stimulus_name"].data[:]})
    found = [templates[name] for name in names if name in templates]
    if found:
        return found[0]
    if len(templates) == 1:
        return next(iter(templates.values()))
    raise RetinaCodecError(
        f"{where} indexes template frames, but no stimulus_template matches it (templates "
        f"{sorted(templates)}); expected a template named {names[1]!r} or the only one"
    )


def _check_indices(values: np.ndarray, n_frames: int, where: str) -> None:
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all() or (values % 1 != 0).any():
        raise RetinaCodecError(f"{where} has template frame indices that are not whole numbers; expected them")
    if values.min() < 0 or values.max() >= n_frames:
        raise RetinaCodecError(
            f"{where} indexes template frames {int(values.min())}..{int(values.max())} of a template of "
            f"{n_frames} frames; expected indices 0..{n_frames - 1}"
        )


def _check_full_field(table, values: np.ndarray, column: str, where: str) -> None:
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        raise RetinaCodecError(
            f"{where} has a {column} column of shape {values.shape} and dtype {values.dtype}; expected one "
            "finite number per presentation (a full-field value)"
        )
    for name in SPATIAL_COLUMNS:
        if name in table.colnames:
            pattern = np.asarray(table[name].data[:])
            if np.issubdtype(pattern.dtype, np.number) and np.isfinite(pattern).any():
                raise RetinaCodecError(
                    f"{where} has a {name} column, so its {column} describes a pattern rather than the full "
                    "field; expected a full-field table, or the pattern stored as an ImageSeries"
                )
