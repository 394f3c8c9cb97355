"""Find the stimulus of an NWB file: an ``ImageSeries``, an ``IndexSeries`` or a presentations
table, chosen by name where there are several."""

from __future__ import annotations

from pathlib import Path

from pynwb.image import ImageSeries, IndexSeries
from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

from ...errors import RetinaCodecError
from .frames import Movie
from .presentations import presentation_movie, presentation_tables
from .series import image_series_movie, index_series_movie

_MICROSCOPY_SERIES = (TwoPhotonSeries, OnePhotonSeries)


def stimulus_movie(nwbfile, name: str | None, label: str, folder: Path | None) -> Movie:
    """The stimulus movie of ``nwbfile``: the series or presentations table called ``name``, or
    the only candidate (series in ``stimulus``, else ``acquisition``, else presentations tables)."""
    found = _choose(nwbfile, name, label)
    if isinstance(found, IndexSeries):
        return index_series_movie(found, folder, f"IndexSeries {found.name!r} in {label}")
    if isinstance(found, ImageSeries):
        return image_series_movie(found, folder, f"ImageSeries {found.name!r} in {label}")
    return presentation_movie(found, nwbfile, folder, f"presentations table {found.name!r} in {label}")


def session_span(nwbfile) -> tuple[float, float] | None:
    """Earliest start and latest end (s) over every stimulus series and presentations table of
    ``nwbfile``: the stretch of the session in which spikes answer some stimulus; None if none is
    timed."""
    spans = [_series_span(obj) for group in (nwbfile.stimulus, nwbfile.acquisition) for obj in _series(group).values()]
    for table in presentation_tables(nwbfile).values():
        if len(table):
            spans.append((float(table["start_time"][0]), float(table["stop_time"][-1])))
    timed = [span for span in spans if span is not None]
    if not timed:
        return None
    return min(start for start, _ in timed), max(end for _, end in timed)


def _series_span(series) -> tuple[float, float] | None:
    if series.timestamps is not None and len(series.timestamps):
        return float(series.timestamps[0]), float(series.timestamps[-1])
    if series.rate and series.num_samples:
        start = float(series.starting_time or 0.0)
        return start, start + series.num_samples / float(series.rate)
    return None


def _series(group) -> dict:
    """Stimulus series of a group: image series (not microscopy) and index series, except image
    series that an index series plays (those are its template)."""
    found = {
        name: obj
        for name, obj in group.items()
        if isinstance(obj, (ImageSeries, IndexSeries)) and not isinstance(obj, _MICROSCOPY_SERIES)
    }
    played = {id(obj.indexed_timeseries) for obj in found.values() if isinstance(obj, IndexSeries)}
    return {name: obj for name, obj in found.items() if id(obj) not in played}


def _choose(nwbfile, name: str | None, label: str):
    in_stimulus = _series(nwbfile.stimulus)
    in_acquisition = _series(nwbfile.acquisition)
    tables = presentation_tables(nwbfile)
    if name is not None:
        for group in (in_stimulus, in_acquisition, tables):
            if name in group:
                return group[name]
        valid = sorted({*in_stimulus, *in_acquisition, *tables})
        raise RetinaCodecError(
            f"no stimulus series or presentations table named {name!r} in {label}; expected one of {valid}"
        )
    candidates = in_stimulus or in_acquisition or tables
    if not candidates:
        raise RetinaCodecError(
            f"{label} holds no ImageSeries stimulus (looked in stimulus and acquisition, and for an "
            "IndexSeries or a presentations table); expected the stimulus movie as an ImageSeries"
        )
    if len(candidates) > 1:
        raise RetinaCodecError(
            f"{label} holds several stimuli {sorted(candidates)}; "
            "expected one chosen by name with stimulus=... (--stimulus-series on the command line)"
        )
    return next(iter(candidates.values()))
