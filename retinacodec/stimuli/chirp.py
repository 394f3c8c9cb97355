"""The full-field chirp of Baden et al. (2016): a light step, a frequency and an amplitude sweep."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_allocation, check_number
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance

STEP_SEGMENTS_S = {"dark_before": 2.0, "light": 3.0, "dark_after": 3.0, "mean": 2.0}
"""Durations in seconds of the step part and of each mean-luminance gap (Baden et al. 2016)."""
FINAL_DARK_S = 3.0
"""Duration of the dark segment that closes each chirp, seconds."""


def _segments(sweep_duration_s: float) -> list[tuple[str, float]]:
    """(label, duration in s) of the chirp's segments in order."""
    steps = STEP_SEGMENTS_S
    return [
        ("dark", steps["dark_before"]),
        ("light", steps["light"]),
        ("dark", steps["dark_after"]),
        ("mean", steps["mean"]),
        ("frequency_sweep", sweep_duration_s),
        ("mean", steps["mean"]),
        ("amplitude_sweep", sweep_duration_s),
        ("mean", steps["mean"]),
        ("dark", FINAL_DARK_S),
    ]


def chirp(
    *,
    n_frames: int | None = None,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    contrast: float = 1.0,
    sweep_duration_s: float = 8.0,
    max_frequency_hz: float = 8.0,
    amplitude_frequency_hz: float = 2.0,
    seed: int = 0,
) -> xr.DataArray:
    """The chirp stimulus of Baden et al. (2016), full field, repeated to fill ``n_frames``.

    One chirp (33 s with the defaults) is, in order: 2 s dark, 3 s light, 3 s dark, 2 s mean,
    an 8 s frequency sweep from 0 to 8 Hz at full contrast, 2 s mean, an 8 s amplitude sweep at
    2 Hz from 0 to full contrast, 2 s mean and 3 s dark. Dark is ``-contrast``, light
    ``+contrast``, mean luminance 0.

    Parameters
    ----------
    n_frames : int, optional
        Number of frames. Default: exactly one chirp. Fewer frames cut the chirp short; more
        repeat it (as trials) and cut the last repeat.
    size : int
        Frame height and width in pixels.
    frame_rate_hz : float
        Frames per second.
    contrast : float
        Full contrast of the steps and sweeps, in [0, 1].
    sweep_duration_s : float
        Duration of each of the two sweeps, seconds.
    max_frequency_hz : float
        Frequency reached at the end of the frequency sweep, below ``frame_rate_hz / 2``.
    amplitude_frequency_hz : float
        Frequency of the amplitude sweep, below ``frame_rate_hz / 2``.
    seed : int
        Recorded for provenance only; the stimulus is deterministic.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x), every pixel of a frame equal; coord
        ``chirp_segment`` along time (``"dark"``, ``"light"``, ``"mean"``,
        ``"frequency_sweep"``, ``"amplitude_sweep"``); attr ``chirp_frames`` (frames per chirp).

    Notes
    -----
    Each segment lasts ``round(duration * frame_rate_hz)`` frames; :math:`\\tau` is the time
    since the segment began, :math:`T` = ``sweep_duration_s`` and :math:`C` = ``contrast``.
    The frequency sweep is :math:`C \\sin(\\pi K \\tau^2)` with :math:`K = f_{max} / T`, a
    linear chirp whose instantaneous frequency :math:`K\\tau` rises from 0 to :math:`f_{max}`
    (zero crossings at :math:`\\tau_n = \\sqrt{n / K}`). The amplitude sweep is
    :math:`C (\\tau / T) \\sin(2\\pi f_a \\tau)` with :math:`f_a` = ``amplitude_frequency_hz``.
    The segment timings follow the Euler lab's QDSpy script ``RGC_Chirp``.

    References
    ----------
    Baden, T. et al. (2016). The functional diversity of retinal ganglion cells in the mouse.
    Nature 529, 345-350.
    """
    checked_frames, size, frame_rate_hz = check_frame_grid(1 if n_frames is None else n_frames, size, frame_rate_hz)
    contrast = check_contrast(contrast)
    sweep_duration_s = check_number("sweep_duration_s", sweep_duration_s, strictly_above=0.0)
    nyquist = frame_rate_hz / 2
    max_frequency_hz = check_number("max_frequency_hz", max_frequency_hz, strictly_above=0.0, strictly_below=nyquist)
    amplitude_frequency_hz = check_number(
        "amplitude_frequency_hz", amplitude_frequency_hz, strictly_above=0.0, strictly_below=nyquist
    )
    seed = check_seed(seed)
    segments = _segments(sweep_duration_s)
    if n_frames is None:
        n_chirp = sum(int(round(duration_s * frame_rate_hz)) for _, duration_s in segments)
        check_allocation(n_chirp * size * size, 4, f"a chirp of {n_chirp} frames of {size}x{size} px")

    labels, pieces = [], []
    for label, duration_s in segments:
        n = int(round(duration_s * frame_rate_hz))
        tau = np.arange(n) / frame_rate_hz
        if label == "frequency_sweep":
            values = np.sin(np.pi * (max_frequency_hz / sweep_duration_s) * tau**2)
        elif label == "amplitude_sweep":
            values = tau / sweep_duration_s * np.sin(2 * np.pi * amplitude_frequency_hz * tau)
        else:
            values = np.full(n, {"dark": -1.0, "light": 1.0, "mean": 0.0}[label])
        pieces.append(contrast * values)
        labels.extend([label] * n)
    one_chirp = np.concatenate(pieces)
    chirp_frames = one_chirp.size
    n_frames = chirp_frames if n_frames is None else checked_frames

    trace = np.resize(one_chirp, n_frames)
    frames = np.broadcast_to(trace[:, None, None], (n_frames, size, size))
    stim = make_stimulus(
        frames,
        frame_rate_hz,
        kind="chirp",
        **provenance(
            n_frames=n_frames,
            size=size,
            contrast=contrast,
            sweep_duration_s=sweep_duration_s,
            max_frequency_hz=max_frequency_hz,
            amplitude_frequency_hz=amplitude_frequency_hz,
            seed=seed,
            chirp_frames=chirp_frames,
        ),
    )
    return stim.assign_coords(chirp_segment=("time", np.resize(np.array(labels), n_frames)))
