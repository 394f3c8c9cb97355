"""Frames of an ``ImageSeries`` kept in external movie files, read with an installed video reader."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from ..._optional import require
from ...errors import RetinaCodecError
from .frames import greyscale, warn_colour


def external_paths(series, folder: Path | None, where: str) -> list[Path]:
    """The external files of ``series``, relative paths taken from ``folder`` (the NWB file's)."""
    names = [str(name) for name in series.external_file[:]]
    paths = [Path(name) if Path(name).is_absolute() or folder is None else folder / name for name in names]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise RetinaCodecError(
            f"{where} keeps its frames in external files that are missing ({', '.join(missing)}); "
            "expected the movie files beside the NWB file, where external_file names them"
        )
    return paths


def video_reader(series, where: str):
    """imageio's v3 API, else OpenCV, else a one-line refusal naming the files and the extra to install."""
    names = ", ".join(str(name) for name in series.external_file[:])
    try:
        return require("imageio.v3", "video", f"{where} keeps its frames in external files ({names}); reading them")
    except RetinaCodecError as missing:
        error = missing
    try:
        return importlib.import_module("cv2")
    except ImportError:
        raise error from None


def read_external(series, folder: Path | None, where: str) -> tuple[np.ndarray, dict]:
    """float32 (frame, y, x) frames of every external file of ``series``, in file order, and the
    attrs that record a colour conversion.

    Movie files hold frames as rows x columns, i.e. (y, x); colour frames (frame, y, x, 3) become
    luminance. ``starting_frame`` must give each file's first frame in the whole series.
    """
    reader = video_reader(series, where)
    paths = external_paths(series, folder, where)
    movies = [np.asarray(_decode(reader, path, where)) for path in paths]
    attrs = warn_colour(where) if any(movie.ndim == 4 for movie in movies) else {}
    movies = [greyscale(movie[..., :3] if movie.ndim == 4 else movie) for movie in movies]
    starting = [] if series.starting_frame is None else [int(frame) for frame in series.starting_frame[:]]
    expected = [int(frame) for frame in np.cumsum([0] + [len(movie) for movie in movies[:-1]])]
    if len(paths) > 1 and starting and starting != expected:
        raise RetinaCodecError(
            f"{where} has starting_frame {starting} but its files hold {[len(movie) for movie in movies]} "
            f"frames; expected starting_frame {expected}"
        )
    shapes = {movie.shape[1:] for movie in movies}
    if len(shapes) != 1:
        raise RetinaCodecError(f"{where} has external files of frame shapes {sorted(shapes)}; expected one shape")
    return np.concatenate(movies).astype(np.float32, copy=False), attrs


def _decode(reader, path: Path, where: str) -> np.ndarray:
    """(frame, y, x[, channel]) frames of one movie file."""
    try:
        if reader.__name__ == "cv2":
            return _decode_cv2(reader, path)
        return reader.imread(path, index=None)
    except (OSError, ValueError, RuntimeError) as exc:
        raise RetinaCodecError(f"cannot read {path} of {where} ({exc}); expected a movie file") from None


def _decode_cv2(cv2, path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., ::-1] if frame.ndim == 3 else frame)  # OpenCV decodes BGR
    capture.release()
    if not frames:
        raise ValueError("no frames decoded")
    return np.stack(frames)
