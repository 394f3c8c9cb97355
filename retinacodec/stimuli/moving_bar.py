"""A bar sweeping once across the field at constant speed."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_number
from ..io.cf import DIMENSIONLESS
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance
from .geometry import position_along

MIN_WIDTH_PX = 0.01
"""Narrowest bar, px: a narrower one shows under 1 % of its contrast on every pixel (a blank stimulus)."""


def moving_bar(
    *,
    n_frames: int = 400,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    width_px: float = 4.0,
    contrast: float = 1.0,
    speed_px_s: float = 20.0,
    direction_deg: float = 0.0,
    seed: int = 0,
) -> xr.DataArray:
    """A bar on a mean-luminance background, entering at one edge and leaving at the other.

    Parameters
    ----------
    n_frames : int
        Number of frames; once the bar has left the field the frames stay at mean luminance.
    size : int
        Frame height and width in pixels.
    frame_rate_hz : float
        Frames per second.
    width_px : float
        Bar width along the direction of motion, pixels.
    contrast : float
        Bar contrast in [-1, 1]; negative for a dark bar.
    speed_px_s : float
        Speed in pixels per second, positive.
    direction_deg : float
        Direction of motion in degrees: 0 towards increasing ``x``, 90 towards increasing ``y``.
    seed : int
        Recorded for provenance only; the stimulus is deterministic.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x); coord ``bar_position_px`` along time: the bar
        centre's signed distance from the frame centre along the direction.

    Notes
    -----
    The bar centre is at :math:`p(t) = p_0 + v t` with
    :math:`p_0 = -(\\max|d| + w/2 + 1/2)`, so the first frame is blank and the bar enters at
    once. Each pixel, taken as a unit interval around its position :math:`d` along the
    direction, shows the bar in proportion to its overlap with :math:`[p - w/2, p + w/2]`;
    this anti-aliasing makes the bar's centroid move smoothly, by :math:`v/f` px per frame.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    width_px = check_number("width_px", width_px, minimum=MIN_WIDTH_PX)
    contrast = check_contrast(contrast, signed=True)
    speed_px_s = check_number("speed_px_s", speed_px_s, strictly_above=0.0)
    direction_deg = check_number("direction_deg", direction_deg)
    seed = check_seed(seed)

    along = position_along(size, direction_deg)[None]
    start = -(np.abs(along).max() + width_px / 2 + 0.5)
    centre = start + speed_px_s * np.arange(n_frames) / frame_rate_hz
    bar = centre[:, None, None]
    overlap = np.minimum(along + 0.5, bar + width_px / 2) - np.maximum(along - 0.5, bar - width_px / 2)
    frames = contrast * np.clip(overlap, 0.0, 1.0)
    stim = make_stimulus(
        frames,
        frame_rate_hz,
        kind="moving_bar",
        **provenance(
            n_frames=n_frames,
            size=size,
            width_px=width_px,
            contrast=contrast,
            speed_px_s=speed_px_s,
            direction_deg=direction_deg,
            seed=seed,
        ),
    )
    stim = stim.assign_coords(bar_position_px=("time", centre))
    stim["bar_position_px"].attrs.update(units=DIMENSIONLESS, long_name="bar centre (pixel)")
    return stim
