"""Pixel geometry shared by the oriented generators (grating, moving bar)."""

from __future__ import annotations

import numpy as np


def position_along(size: int, direction_deg: float) -> np.ndarray:
    """Signed distance of each pixel centre from the frame centre along a direction.

    Parameters
    ----------
    size : int
        Frame height and width in pixels.
    direction_deg : float
        Direction in degrees: 0 points towards increasing ``x`` (right), 90 towards increasing
        ``y`` (down the rows, as ``imshow`` draws them).

    Returns
    -------
    numpy.ndarray
        float64 array of shape (size, size), dims (y, x), in pixels.

    Notes
    -----
    With the frame centre :math:`c = (\\text{size} - 1)/2` and :math:`\\theta` the direction,
    :math:`d(y, x) = (x - c)\\cos\\theta + (y - c)\\sin\\theta`.
    """
    theta = np.deg2rad(direction_deg)
    offsets = np.arange(size) - (size - 1) / 2.0
    return offsets[None, :] * np.cos(theta) + offsets[:, None] * np.sin(theta)
