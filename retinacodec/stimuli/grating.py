"""Drifting sinusoidal gratings."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_number
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance
from .geometry import position_along


def grating(
    *,
    n_frames: int = 400,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    spatial_period_px: float = 10.0,
    temporal_frequency_hz: float = 2.0,
    direction_deg: float = 0.0,
    contrast: float = 1.0,
    phase_deg: float = 0.0,
    seed: int = 0,
) -> xr.DataArray:
    """A sinusoidal grating drifting at constant speed.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : int
        Frame height and width in pixels.
    frame_rate_hz : float
        Frames per second.
    spatial_period_px : float
        Wavelength in pixels, at least 2 (the sampling limit).
    temporal_frequency_hz : float
        Cycles per second passing a fixed pixel, in [0, frame_rate_hz / 2); 0 gives a static
        grating.
    direction_deg : float
        Direction of drift in degrees, perpendicular to the bars: 0 towards increasing ``x``,
        90 towards increasing ``y``.
    contrast : float
        Amplitude of the sinusoid, in [0, 1].
    phase_deg : float
        Phase at the frame centre at time 0, degrees.
    seed : int
        Recorded for provenance only; the stimulus is deterministic.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x).

    Notes
    -----
    :math:`s(t, y, x) = C \\sin(2\\pi (d(y, x)/\\lambda - f t) + \\phi)` with :math:`d` the
    position along the direction (:func:`~retinacodec.stimuli.geometry.position_along`),
    :math:`\\lambda` = ``spatial_period_px`` and :math:`f` = ``temporal_frequency_hz``; the
    bars move at :math:`\\lambda f` px/s along the direction.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    spatial_period_px = check_number("spatial_period_px", spatial_period_px, minimum=2.0)
    temporal_frequency_hz = check_number(
        "temporal_frequency_hz", temporal_frequency_hz, minimum=0.0, strictly_below=frame_rate_hz / 2
    )
    direction_deg = check_number("direction_deg", direction_deg)
    contrast = check_contrast(contrast)
    phase_deg = check_number("phase_deg", phase_deg)
    seed = check_seed(seed)

    times = np.arange(n_frames) / frame_rate_hz
    spatial_cycles = position_along(size, direction_deg) / spatial_period_px
    phase = 2 * np.pi * (spatial_cycles[None] - temporal_frequency_hz * times[:, None, None])
    frames = contrast * np.sin(phase + np.deg2rad(phase_deg))
    return make_stimulus(
        frames,
        frame_rate_hz,
        kind="grating",
        **provenance(
            n_frames=n_frames,
            size=size,
            spatial_period_px=spatial_period_px,
            temporal_frequency_hz=temporal_frequency_hz,
            direction_deg=direction_deg,
            contrast=contrast,
            phase_deg=phase_deg,
            seed=seed,
        ),
    )
