"""The labeled stimulus container: construction and validation shared by every generator."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..errors import RetinaCodecError
from ..io.cf import CONTRAST_LONG_NAME, DIMENSIONLESS, PIXEL_X, PIXEL_Y, TIME

DEFAULT_SIZE = 50
"""Default frame height and width in pixels (the retina model's input, 1 px = 55 µm)."""
DEFAULT_FRAME_RATE_HZ = 100.0
"""Default frame rate in Hz (1 frame = 10 ms)."""
PIXEL_SIZE_UM = 55.0
"""Size of one pixel on the retina in micrometres."""
STIMULUS_DIMS = ("time", "y", "x")
CONTRAST_LIMIT = 10.0
"""Largest absolute value accepted as contrast; larger values are taken for luminance or raw pixel
values given as contrast."""
LUMINANCE_UNITS = ("cd/m2", "cd/m^2", "cd/m²", "cd m-2", "cd m^-2", "nit", "nits", "luminance")
"""Spellings of the ``units`` attr that mark a stimulus in luminance (converted to contrast)."""


def make_stimulus(
    frames: np.ndarray,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    *,
    kind: str,
    units: str = DIMENSIONLESS,
    **attrs,
) -> xr.DataArray:
    """Wrap a (time, y, x) array of contrast frames as a labeled stimulus.

    Parameters
    ----------
    frames : numpy.ndarray
        Array of shape (time, y, x); contrast in [-1, 1] (0 = mean luminance).
    frame_rate_hz : float
        Frames per second.
    kind : str
        Generator name, stored in attrs for provenance.
    units : str
        UDUNITS unit of the values: ``"1"`` for Weber contrast relative to the mean luminance; a
        luminance unit (``"cd/m2"``) converts the frames to contrast.
    **attrs
        Further provenance (seed, generator parameters).

    Returns
    -------
    xarray.DataArray
        float32, dims (time, y, x), coords time in seconds and y, x in pixels (with CF
        ``units`` and ``axis``), attrs ``frame_rate_hz``, ``units``, ``long_name``,
        ``pixel_size_um``, ``kind`` and the given attrs.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3:
        raise RetinaCodecError(f"stimulus frames have shape {frames.shape}; expected (time, y, x)")
    n_time, n_y, n_x = frames.shape
    stim = xr.DataArray(
        frames,
        dims=STIMULUS_DIMS,
        coords={
            "time": np.arange(n_time) / float(frame_rate_hz),
            "y": np.arange(n_y),
            "x": np.arange(n_x),
        },
        name="stimulus",
        attrs={
            "frame_rate_hz": float(frame_rate_hz),
            "units": units,
            "long_name": CONTRAST_LONG_NAME,
            "pixel_size_um": PIXEL_SIZE_UM,
            "kind": kind,
            **attrs,
        },
    )
    stim["time"].attrs.update(TIME)
    stim["y"].attrs.update(PIXEL_Y)
    stim["x"].attrs.update(PIXEL_X)
    return validate_stimulus(stim)


def validate_stimulus(stim: xr.DataArray, *, min_frames: int = 1) -> xr.DataArray:
    """Check that ``stim`` is a usable stimulus and return it.

    Parameters
    ----------
    stim : xarray.DataArray
        Candidate stimulus.
    min_frames : int
        Fewest frames accepted (a model that needs a history of N frames asks for N).

    Returns
    -------
    xarray.DataArray
        The same stimulus, transposed to (time, y, x).

    Raises
    ------
    RetinaCodecError
        If it is not a DataArray with dims {time, y, x}, lacks ``frame_rate_hz``, has too few
        frames, a time coordinate that does not increase, NaN or infinite values, or values
        outside +-:data:`CONTRAST_LIMIT` that its ``units`` do not mark as luminance.

    Warns
    -----
    UserWarning
        When the ``units`` attr says luminance (cd/m², see :data:`LUMINANCE_UNITS`): the stimulus
        is converted to Weber contrast about its mean, (L - mean) / mean.
    """
    if not isinstance(stim, xr.DataArray):
        raise RetinaCodecError(
            f"stimulus is a {type(stim).__name__}; expected an xarray.DataArray with dims (time, y, x)"
        )
    if set(stim.dims) != set(STIMULUS_DIMS):
        raise RetinaCodecError(f"stimulus has dims {stim.dims}; expected (time, y, x)")
    stim = stim.transpose(*STIMULUS_DIMS)
    rate = stim.attrs.get("frame_rate_hz")
    if rate is None or isinstance(rate, (str, bytes)) or not np.isfinite(rate) or float(rate) <= 0:
        raise RetinaCodecError(
            f"stimulus attr frame_rate_hz is {rate!r}; expected a positive number of frames per second"
        )
    if stim.sizes["time"] < min_frames:
        raise RetinaCodecError(f"stimulus has {stim.sizes['time']} frames; expected at least {min_frames}")
    values = stim.values
    if not np.issubdtype(values.dtype, np.number):
        raise RetinaCodecError(f"stimulus has dtype {values.dtype}; expected floating-point contrast")
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise RetinaCodecError(f"stimulus holds {bad} NaN or infinite values; expected finite contrast")
    _check_time(stim)
    if str(stim.attrs.get("units", "")).strip().lower() in LUMINANCE_UNITS:
        return _luminance_to_contrast(stim)
    peak = float(np.abs(values).max()) if values.size else 0.0
    if peak > CONTRAST_LIMIT:
        raise RetinaCodecError(
            f"stimulus values span [{values.min():.4g}, {values.max():.4g}] (units "
            f"{stim.attrs.get('units', 'not given')!r}); expected contrast in about [-1, 1] (at most "
            f"{CONTRAST_LIMIT:g} in size); for luminance set attrs units='cd/m2' to convert it"
        )
    return stim


def _check_time(stim: xr.DataArray) -> None:
    """Refuse a time coordinate (s) that does not strictly increase."""
    if "time" not in stim.coords or stim.sizes["time"] < 2:
        return
    steps = np.diff(np.asarray(stim["time"].values, dtype=np.float64))
    if not (steps > 0).all():
        first = int(np.flatnonzero(~(steps > 0))[0])
        raise RetinaCodecError(
            f"stimulus time coordinate does not increase (frame {first + 1} is at "
            f"{float(stim['time'][first + 1]):g} s after {float(stim['time'][first]):g} s); expected "
            "frames in time order, strictly increasing"
        )


def _luminance_to_contrast(stim: xr.DataArray) -> xr.DataArray:
    """Weber contrast about the mean, (L - mean) / mean, of a luminance stimulus (with a warning)."""
    mean = float(np.mean(stim.values, dtype=np.float64))
    if not mean > 0:
        raise RetinaCodecError(
            f"stimulus in luminance ({stim.attrs['units']}) has mean {mean:g}; expected a positive mean luminance"
        )
    warnings.warn(
        f"stimulus is in luminance ({stim.attrs['units']}); converted to Weber contrast about its mean "
        f"{mean:.4g}, (L - mean) / mean",
        stacklevel=3,
    )
    contrast = ((stim.values.astype(np.float64) - mean) / mean).astype(np.float32)
    return stim.copy(data=contrast).assign_attrs(units=DIMENSIONLESS, long_name=CONTRAST_LONG_NAME, mean_luminance=mean)
