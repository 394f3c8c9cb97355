"""Spatiotemporal white noise: independent binary or Gaussian checks on every frame."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_choice, check_int
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance

DISTRIBUTIONS = ("binary", "gaussian")


def white_noise(
    *,
    n_frames: int = 3000,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    distribution: str = "binary",
    contrast: float = 1.0,
    block_size: int = 1,
    seed: int = 0,
) -> xr.DataArray:
    """Checkerboard white noise, a fresh independent draw on every frame.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : int
        Frame height and width in pixels (1 px = 55 µm on the retina).
    frame_rate_hz : float
        Frames per second.
    distribution : {"binary", "gaussian"}
        ``"binary"``: each check is ``+contrast`` or ``-contrast`` with probability 1/2.
        ``"gaussian"``: each check is drawn from a normal distribution with mean 0 and standard
        deviation ``contrast``, then clipped to [-1, 1].
    contrast : float
        Binary amplitude or Gaussian standard deviation, in [0, 1].
    block_size : int
        Edge of one check in pixels; the last row and column of checks are cut at the frame edge
        when ``size`` is not a multiple of it.
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same frames.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x), attrs recording every parameter.

    Notes
    -----
    Binary noise has mean 0 and standard deviation exactly ``contrast``. Gaussian noise clipped
    at :math:`\\pm 1` has standard deviation :math:`\\sigma` only while :math:`\\sigma \\ll 1`:
    at :math:`\\sigma = 1` a third of the values saturate and the standard deviation drops to
    :math:`\\sqrt{\\operatorname{erf}(1/\\sqrt2) - 2\\varphi(1) + 2(1 - \\Phi(1))} \\approx 0.72`.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    distribution = check_choice("distribution", distribution, DISTRIBUTIONS)
    contrast = check_contrast(contrast)
    block_size = check_int("block_size", block_size)
    seed = check_seed(seed)

    rng = np.random.default_rng(seed)
    n_blocks = -(-size // block_size)
    shape = (n_frames, n_blocks, n_blocks)
    if distribution == "binary":
        signs = 2 * rng.integers(0, 2, size=shape, dtype=np.int8) - 1
        checks = signs.astype(np.float32) * np.float32(contrast)
    else:
        checks = rng.standard_normal(shape, dtype=np.float32) * np.float32(contrast)
        np.clip(checks, -1.0, 1.0, out=checks)
    frames = checks.repeat(block_size, axis=1).repeat(block_size, axis=2)[:, :size, :size]
    return make_stimulus(
        frames,
        frame_rate_hz,
        kind="white_noise",
        **provenance(
            n_frames=n_frames,
            size=size,
            distribution=distribution,
            contrast=contrast,
            block_size=block_size,
            seed=seed,
        ),
    )
