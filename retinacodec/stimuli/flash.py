"""Full-field flashes: a periodic light step followed by a dark step."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_number
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance


def flash(
    *,
    n_frames: int = 400,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    period_s: float = 2.0,
    duty_cycle: float = 0.5,
    contrast: float = 1.0,
    seed: int = 0,
) -> xr.DataArray:
    """Full-field square-wave flashes: light, then dark, repeated every ``period_s``.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : int
        Frame height and width in pixels.
    frame_rate_hz : float
        Frames per second.
    period_s : float
        Duration of one light + dark cycle, seconds.
    duty_cycle : float
        Fraction of the period spent in the light phase, strictly between 0 and 1.
    contrast : float
        Step amplitude in [0, 1]: the light phase is ``+contrast``, the dark phase ``-contrast``.
    seed : int
        Recorded for provenance only; the stimulus is deterministic.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x), every pixel of a frame equal; coord ``phase``
        (``"light"`` or ``"dark"``) along time.

    Notes
    -----
    Frame :math:`k` (time :math:`t_k = k / f`) is light when
    :math:`(t_k / T) \\bmod 1 < D`, with :math:`T` = ``period_s`` and :math:`D` = ``duty_cycle``,
    and dark otherwise; so the light phase of each cycle starts on the frame at or after
    :math:`nT` and lasts :math:`DT`.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    period_s = check_number("period_s", period_s, minimum=2.0 / frame_rate_hz)
    duty_cycle = check_number("duty_cycle", duty_cycle, strictly_above=0.0, strictly_below=1.0)
    contrast = check_contrast(contrast)
    seed = check_seed(seed)

    # the tiny offset puts frames that start exactly on a phase boundary into the new phase
    # despite rounding (115 / 50 % 1 is 0.2999... in floating point)
    cycle_fraction = np.mod(np.arange(n_frames) / (period_s * frame_rate_hz) + 1e-9, 1.0)
    light = cycle_fraction < duty_cycle
    trace = np.where(light, contrast, -contrast)
    frames = np.broadcast_to(trace[:, None, None], (n_frames, size, size))
    stim = make_stimulus(
        frames,
        frame_rate_hz,
        kind="flash",
        **provenance(
            n_frames=n_frames, size=size, period_s=period_s, duty_cycle=duty_cycle, contrast=contrast, seed=seed
        ),
    )
    return stim.assign_coords(phase=("time", np.where(light, "light", "dark")))
