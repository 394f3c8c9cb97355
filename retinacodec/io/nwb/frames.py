"""Frames of a stimulus movie: stored pixel values scaled, colour made luminance, Weber contrast.

NWB stores an ``ImageSeries`` as ``data[frame][x][y]`` (``nwb.image.yaml`` in the NWB core
schema), a colour one as ``data[frame][x][y][r, g, b]``; retinacodec's stimulus convention is
(time, y, x), so frames are transposed on reading.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ...errors import RetinaCodecError
from ..cf import CONTRAST_LONG_NAME, DIMENSIONLESS, PIXEL_X, PIXEL_Y, TIME

MOVIE_DIMS = ("time", "y", "x")
"""Dims of the stimulus movie read and written, in the order of retinacodec's convention."""
READ_CHUNK_BYTES = 64 * 2**20
"""Stored frames are read and scaled in blocks of about this many bytes (as float64)."""
LUMINANCE_WEIGHTS = (0.2126, 0.7152, 0.0722)
"""Weights of red, green and blue in the luminance of a colour frame (ITU-R BT.709)."""
COLOUR_CONVERSION = "luminance Y = 0.2126 R + 0.7152 G + 0.0722 B (ITU-R BT.709)"
"""How colour frames are made greyscale, as recorded in the stimulus attrs."""


@dataclass
class Movie:
    """A stimulus movie found in a file, read frame by frame on demand.

    Attributes
    ----------
    name : str
        Name of the series or table the frames come from.
    where : str
        The series or table and its file, in words, for messages.
    frame_times : numpy.ndarray
        float64 (frame,), onset of every frame in s.
    frame_rate_hz : float
        Frames per second.
    unit : str
        Unit of the values ``read`` returns ("contrast", or a luminance unit).
    read : callable
        ``read(indices)`` -> float32 (len(indices), y, x), the frames at sorted indices.
    blank : numpy.ndarray, optional
        bool (frame,), frames during which nothing was presented (mean grey, contrast 0).
    attrs : dict
        Extra stimulus attrs (``layout``, ``colour_conversion``, ...).
    """

    name: str
    where: str
    frame_times: np.ndarray
    frame_rate_hz: float
    unit: str
    read: Callable[[np.ndarray], np.ndarray]
    blank: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)


def is_contrast(unit: str) -> bool:
    """Whether a unit names contrast (rather than a luminance)."""
    return "contrast" in str(unit).lower()


def is_colour(shape: tuple[int, ...]) -> bool:
    """Whether stored frames of ``shape`` (frame, x, y[, channel]) hold RGB colour."""
    return len(shape) == 4 and shape[3] == len(LUMINANCE_WEIGHTS)


def warn_colour(where: str) -> dict:
    """Say that colour frames of ``where`` become luminance; the attrs that record it."""
    warnings.warn(
        f"{where} holds colour frames; converted to {COLOUR_CONVERSION}, as retinacodec's models are greyscale",
        UserWarning,
        stacklevel=4,
    )
    return {"colour_conversion": COLOUR_CONVERSION}


def greyscale(block: np.ndarray) -> np.ndarray:
    """float32 luminance of colour frames (..., 3), or the frames as float32 when greyscale."""
    if block.ndim == 4:
        return np.tensordot(block.astype(np.float32), np.asarray(LUMINANCE_WEIGHTS, np.float32), axes=1)
    return block


def frame_shape(stored, where: str) -> tuple[int, ...]:
    """Shape of stored frames [frame][x][y] or [frame][x][y][r, g, b], else a one-line refusal."""
    shape = tuple(getattr(stored, "shape", np.shape(stored)))
    if not (len(shape) == 3 or is_colour(shape)) or shape[0] == 0:
        raise RetinaCodecError(
            f"{where} has data of shape {shape}; expected stored frames [frame][x][y] "
            "(or colour frames [frame][x][y][r, g, b])"
        )
    return shape


def scaled_frames(stored, conversion: float, offset: float, where: str, indices: np.ndarray) -> np.ndarray:
    """float32 (len(indices), y, x) frames ``stored x conversion + offset`` at sorted ``indices``.

    Contiguous runs are read in chunks of about :data:`READ_CHUNK_BYTES`, so an integer movie is
    never held as float64; colour frames become luminance (:data:`LUMINANCE_WEIGHTS`).
    """
    shape = frame_shape(stored, where)
    frames = np.empty((indices.size, shape[2], shape[1]), dtype=np.float32)
    step = max(1, READ_CHUNK_BYTES // max(1, 8 * int(np.prod(shape[1:]))))
    bad, done = 0, 0
    for first, stop in _runs(indices):
        for start in range(first, stop, step):
            block = np.asarray(stored[start : min(start + step, stop)])
            if not np.issubdtype(block.dtype, np.integer):
                bad += int((~np.isfinite(block)).sum())
            chunk = frames[done : done + block.shape[0]]
            chunk[...] = greyscale(block.swapaxes(1, 2))
            chunk *= np.float32(conversion)
            chunk += np.float32(offset)
            done += block.shape[0]
    if bad:
        raise RetinaCodecError(f"{where} holds {bad} NaN or infinite values; expected finite pixel values")
    return frames


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of consecutive values in sorted ``indices``."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.r_[indices[0], indices[breaks]]
    stops = np.r_[indices[breaks - 1] + 1, indices[-1] + 1]
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def series_frame_times(series, n_frames: int, where: str) -> tuple[np.ndarray, float]:
    """Frame onset times (s) and the frame rate (Hz) of a ``TimeSeries`` of ``n_frames``."""
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


def contrast_movie(movie: Movie, indices: np.ndarray, source_file: str) -> xr.DataArray:
    r"""The frames of ``movie`` at ``indices`` as a float32 (time, y, x) contrast DataArray.

    A unit containing "contrast" is kept as it is; any other unit is taken for a luminance
    :math:`L` and converted to Weber contrast :math:`(L - \bar L) / \bar L` around the mean
    :math:`\bar L` over the frames read (blank frames aside, which are set to contrast 0).
    """
    data = movie.read(indices)
    blank = None if movie.blank is None else movie.blank[indices]
    attrs: dict = {}
    if not is_contrast(movie.unit):
        shown = data if blank is None else data[~blank]
        mean = float(shown.mean(dtype=np.float64)) if shown.size else 0.0
        if mean <= 0:
            raise RetinaCodecError(
                f"{movie.where} has unit {movie.unit!r} (taken for a luminance) with mean {mean}; "
                "expected a positive mean luminance, or unit 'contrast'"
            )
        data -= np.float32(mean)
        data /= np.float32(mean)
        attrs = {
            "contrast_conversion": f"Weber contrast (L - mean) / mean, L in {movie.unit}",
            "mean_luminance": mean,
        }
    if blank is not None:
        data[blank] = 0.0
    return xr.DataArray(
        data,
        dims=MOVIE_DIMS,
        coords={
            "time": ("time", movie.frame_times[indices], dict(TIME)),
            "y": ("y", np.arange(data.shape[1]), dict(PIXEL_Y)),
            "x": ("x", np.arange(data.shape[2]), dict(PIXEL_X)),
        },
        name="stimulus",
        attrs={
            "frame_rate_hz": float(movie.frame_rate_hz),
            "units": DIMENSIONLESS,
            "long_name": CONTRAST_LONG_NAME,
            "kind": "nwb",
            "source_file": source_file,
            "series_name": movie.name,
            "nwb_unit": str(movie.unit),
            **movie.attrs,
            **attrs,
        },
    )
