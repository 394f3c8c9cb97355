"""Movies of an ``ImageSeries`` (frames in the file or in external movie files) and of an
``IndexSeries`` that plays the frames of a template (``stimulus_template``) at its own times."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import RetinaCodecError
from .external import read_external
from .frames import Movie, frame_shape, greyscale, is_colour, scaled_frames, series_frame_times, warn_colour

TEMPLATE_UNIT = "n.a."
"""Unit of the pixel values of an ``Images`` template, which NWB does not give (a luminance)."""


def image_series_movie(series, folder: Path | None, where: str) -> Movie:
    """The movie of an ``ImageSeries`` (or ``OpticalSeries``): stored frames, colour frames made
    luminance, or frames in external movie files (read whole, with an installed video reader)."""
    if series.external_file is not None and len(series.external_file[:]):
        frames, attrs = read_external(series, folder, where)
        frames *= np.float32(series.conversion)
        frames += np.float32(series.offset)
        times, rate = series_frame_times(series, frames.shape[0], where)
        return Movie(series.name, where, times, rate, str(series.unit), lambda idx: frames[idx], attrs=attrs)
    shape = frame_shape(series.data, where)
    times, rate = series_frame_times(series, shape[0], where)
    attrs = warn_colour(where) if is_colour(shape) else {}

    def read(indices: np.ndarray) -> np.ndarray:
        return scaled_frames(series.data, series.conversion, series.offset, where, indices)

    return Movie(series.name, where, times, rate, str(series.unit), read, attrs=attrs)


def index_series_movie(series, folder: Path | None, where: str) -> Movie:
    """The movie of an ``IndexSeries``: frame ``i`` is the template's frame ``data[i]``, shown at
    the series' ``i``-th time. The template is its ``indexed_images`` (an ``Images``, in
    ``order_of_images``) or its ``indexed_timeseries`` (an ``ImageSeries``)."""
    index = np.asarray(series.data[:])
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise RetinaCodecError(
            f"{where} has data of shape {index.shape} and dtype {index.dtype}; expected one integer "
            "template index per presentation"
        )
    template, unit, n_template, attrs = _template(series, folder, where)
    if index.min() < 0 or index.max() >= n_template:
        raise RetinaCodecError(
            f"{where} indexes template frames {int(index.min())}..{int(index.max())} of a template of "
            f"{n_template} frames; expected indices 0..{n_template - 1}"
        )
    times, rate = series_frame_times(series, index.size, where)

    def read(indices: np.ndarray) -> np.ndarray:
        shown, inverse = np.unique(index[indices], return_inverse=True)
        return template(shown)[inverse]

    return Movie(series.name, where, times, rate, unit, read, attrs=attrs)


def template_frames(template, folder: Path | None, where: str):
    """(read(indices) -> float32 (k, y, x), unit, number of frames, attrs) of a template: an
    ``Images`` container or an ``ImageSeries``."""
    if hasattr(template, "images"):  # an Images container
        images = list(template.order_of_images.data) if template.order_of_images is not None else []
        images = images or list(template.images.values())
        if not images:
            raise RetinaCodecError(f"{where} has an empty template {template.name!r}; expected images in it")
        colour = any(np.ndim(image.data) == 3 for image in images)
        attrs = {"template": template.name, **(warn_colour(where) if colour else {})}
        return (lambda idx: _image_stack(images, idx, where)), TEMPLATE_UNIT, len(images), attrs
    movie = image_series_movie(template, folder, f"template {template.name!r} of {where}")
    return movie.read, movie.unit, movie.frame_times.size, {"template": template.name, **movie.attrs}


def _template(series, folder: Path | None, where: str):
    template = series.indexed_images if series.indexed_images is not None else series.indexed_timeseries
    if template is None:
        raise RetinaCodecError(f"{where} has no template; expected indexed_images or indexed_timeseries")
    return template_frames(template, folder, where)


def _image_stack(images: list, indices: np.ndarray, where: str) -> np.ndarray:
    """float32 (len(indices), y, x) of the ``Image`` objects [x][y] or [x][y][r, g, b(, a)] at indices."""
    frames = [np.asarray(images[i].data[:]) for i in indices]
    shapes = {frame.shape[:2] for frame in frames}
    if len(shapes) > 1 or any(frame.ndim not in (2, 3) for frame in frames):
        raise RetinaCodecError(
            f"the template images of {where} have shapes {sorted({frame.shape for frame in frames})}; "
            "expected images [x][y] or [x][y][r, g, b] of one size"
        )
    stack = [greyscale(frame[None, ..., :3] if frame.ndim == 3 else frame[None]) for frame in frames]
    return np.concatenate(stack).astype(np.float32).swapaxes(1, 2).copy()
