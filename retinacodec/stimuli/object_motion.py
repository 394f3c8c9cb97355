"""Object-motion stimulus: a jittering grating seen through a central disk and its surround.

Ölveczky, Baccus & Meister (2003): object-motion-sensitive ganglion cells fire when the grating
inside their receptive-field centre (the "object") moves differently from the background, and
stay quiet when both move together (global motion, as during the eye's fixational jitter).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_choice, check_number
from ..errors import RetinaCodecError
from ..io.cf import DIMENSIONLESS
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance

MODES = ("differential", "global")


def square_wave_pixels(position_px: np.ndarray, period_px: float) -> np.ndarray:
    """A ±1 square wave of period ``period_px`` averaged over each 1 px wide pixel.

    Parameters
    ----------
    position_px : numpy.ndarray
        Pixel-centre coordinates along the wave, in pixels (any shape).
    period_px : float
        Period of the wave in pixels (one bright and one dark bar).

    Returns
    -------
    numpy.ndarray
        Mean of the wave over :math:`[u - 1/2, u + 1/2]` for each coordinate :math:`u`, in [-1, 1].

    Notes
    -----
    The wave is +1 on the first half of each period (starting at 0) and -1 on the second. Its
    antiderivative is the triangle wave :math:`F(u) = P\\,\\min(f, 1 - f)` with :math:`f` the
    fractional part of :math:`u / P`, so the pixel average is :math:`F(u + 1/2) - F(u - 1/2)`:
    a sub-pixel shift changes the edge pixels gradually instead of jumping by a whole pixel.
    """

    def triangle(u):
        fraction = np.mod(u / period_px, 1.0)
        return period_px * np.minimum(fraction, 1.0 - fraction)

    return triangle(position_px + 0.5) - triangle(position_px - 0.5)


def object_motion(
    *,
    n_frames: int = 1000,
    seed: int = 0,
    mode: str = "differential",
    object_radius_px: float = 6.0,
    bar_period_px: float = 4.0,
    jitter_px: float = 1.0,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    contrast: float = 1.0,
    center: tuple[float, float] | None = None,
) -> xr.DataArray:
    """Jittered square-wave grating, object disk and background moving together or apart.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    seed : int
        Seed of :func:`numpy.random.default_rng`. The object's path depends on the seed only, so
        ``"global"`` and ``"differential"`` with the same seed show the same object motion.
    mode : {"differential", "global"}
        ``"global"``: background and object follow the same random walk. ``"differential"``: the
        background follows a second, independent walk.
    object_radius_px : float
        Radius of the object disk in pixels (5–8 px, 275–440 µm, covers an OMS cell's centre).
    bar_period_px : float
        Grating period in pixels (one bright and one dark bar, 4 px = 220 µm); bars are vertical.
    jitter_px : float
        Step of the random walks: every frame each walk moves ``+jitter_px`` or ``-jitter_px``
        along x with probability 1/2 (so the step standard deviation is ``jitter_px``).
    size : int
        Frame height and width in pixels.
    frame_rate_hz : float
        Frames per second.
    contrast : float
        Amplitude of the grating, in [0, 1].
    center : (float, float), optional
        (y, x) of the object's centre in pixels; the frame centre ``((size - 1) / 2,) * 2`` when
        omitted.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x); attrs record every parameter, plus the walks
        themselves as coords ``object_shift`` and ``background_shift`` (time, px) so that tests
        and analyses can use the true motion.

    Notes
    -----
    Frame :math:`t` shows :math:`c\\,\\mathrm{sq}(x - s_t)` inside the disk
    :math:`(y - y_0)^2 + (x - x_0)^2 \\le R^2` with :math:`s_t` the object's walk, and
    :math:`c\\,\\mathrm{sq}(x - b_t)` outside it with :math:`b_t` the background's walk
    (:math:`b = s` in global mode). Both walks start at 0 and take their first step at frame 1.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    seed = check_seed(seed)
    mode = check_choice("mode", mode, MODES)
    object_radius_px = check_number("object_radius_px", object_radius_px, strictly_above=0.0)
    bar_period_px = check_number("bar_period_px", bar_period_px, strictly_above=1.0)
    jitter_px = check_number("jitter_px", jitter_px, minimum=0.0)
    contrast = check_contrast(contrast)
    middle = (size - 1) / 2.0
    if center is None:
        center = (middle, middle)
    if not (isinstance(center, (tuple, list)) and len(center) == 2):
        raise RetinaCodecError(f"center is {center!r}; expected a (y, x) pair of pixel coordinates")
    center_y = check_number("center y", center[0], minimum=0.0, maximum=size - 1)
    center_x = check_number("center x", center[1], minimum=0.0, maximum=size - 1)

    rng = np.random.default_rng(seed)
    object_shift = _random_walk(rng, n_frames, jitter_px)
    background_shift = object_shift if mode == "global" else _random_walk(rng, n_frames, jitter_px)

    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    inside = (rows - center_y) ** 2 + (cols - center_x) ** 2 <= object_radius_px**2
    x = cols[None, :, :]
    frames = (
        np.where(
            inside[None],
            square_wave_pixels(x - object_shift[:, None, None], bar_period_px),
            square_wave_pixels(x - background_shift[:, None, None], bar_period_px),
        )
        * contrast
    )
    stim = make_stimulus(
        frames,
        frame_rate_hz,
        kind="object_motion",
        **provenance(
            n_frames=n_frames,
            seed=seed,
            mode=mode,
            object_radius_px=object_radius_px,
            bar_period_px=bar_period_px,
            jitter_px=jitter_px,
            size=size,
            contrast=contrast,
            center=(center_y, center_x),
        ),
    )
    stim.coords["object_shift"] = ("time", object_shift, {"units": DIMENSIONLESS, "long_name": "object shift (pixel)"})
    stim.coords["background_shift"] = (
        "time",
        background_shift,
        {"units": DIMENSIONLESS, "long_name": "background shift (pixel)"},
    )
    return stim


def _random_walk(rng: np.random.Generator, n_frames: int, step_px: float) -> np.ndarray:
    """Positions of a walk of ±``step_px`` steps, starting at 0 on frame 0 (float64, px)."""
    steps = step_px * (2.0 * rng.integers(0, 2, size=n_frames - 1) - 1.0)
    return np.concatenate([[0.0], np.cumsum(steps)])
