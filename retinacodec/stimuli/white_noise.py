"""Spatiotemporal white noise: independent binary or Gaussian checks on every frame, stationary or
switching between contrasts and mean levels."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_choice, check_int, check_number
from ..errors import RetinaCodecError
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

    frames = _noise_frames(np.random.default_rng(seed), n_frames, size, block_size, distribution, np.float32(contrast))
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


def _noise_frames(
    rng: np.random.Generator,
    n_frames: int,
    size: int,
    block_size: int,
    distribution: str,
    contrast: np.ndarray | np.float32,
) -> np.ndarray:
    """Frames of zero-mean checks; ``contrast`` is one amplitude or one per frame (clipped to ±1)."""
    n_blocks = -(-size // block_size)
    shape = (n_frames, n_blocks, n_blocks)
    scale = np.reshape(contrast, (-1, 1, 1)).astype(np.float32)
    if distribution == "binary":
        signs = 2 * rng.integers(0, 2, size=shape, dtype=np.int8) - 1
        checks = signs.astype(np.float32) * scale
    else:
        checks = rng.standard_normal(shape, dtype=np.float32) * scale
        np.clip(checks, -1.0, 1.0, out=checks)
    return checks.repeat(block_size, axis=1).repeat(block_size, axis=2)[:, :size, :size]


def _levels(name: str, values, *, signed: bool) -> tuple[float, ...]:
    """A non-empty list of contrasts (``signed``: mean levels) in [0, 1] (or [-1, 1])."""
    if isinstance(values, (int, float)):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values:
        raise RetinaCodecError(f"{name} is {values!r}; expected a non-empty list of numbers")
    return tuple(check_number(name, v, minimum=-1.0 if signed else 0.0, maximum=1.0) for v in values)


def switching_white_noise(
    *,
    n_frames: int = 6000,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    distribution: str = "binary",
    contrasts: list[float] | tuple[float, ...] = (0.2, 0.4, 0.8),
    means: list[float] | tuple[float, ...] = (0.0,),
    switch_frames: int = 200,
    block_size: int = 1,
    seed: int = 0,
) -> xr.DataArray:
    """White noise whose contrast and mean level switch every ``switch_frames`` frames.

    The classic stimulus of contrast adaptation (Smirnakis et al. 1997; Baccus & Meister 2002),
    here with the mean level switching too. Each epoch of ``switch_frames`` frames draws one
    contrast from ``contrasts`` and one mean level from ``means``, independently and uniformly;
    a frame is that mean plus checks of :func:`white_noise` at that contrast. A model fit to it
    sees every pathway's operating point move with the stimulus statistics, which stationary
    zero-mean noise never shows.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : int
        Frame height and width in pixels (1 px = 55 µm on the retina).
    frame_rate_hz : float
        Frames per second.
    distribution : {"binary", "gaussian"}
        As in :func:`white_noise`; Gaussian values are clipped to [-1, 1] after the mean is added.
    contrasts : list of float
        Binary amplitudes or Gaussian standard deviations to switch between, each in [0, 1].
    means : list of float
        Mean levels (contrast relative to the adapting luminance) to switch between, each in
        [-1, 1]. For binary noise every ``|mean| + contrast`` must be at most 1.
    switch_frames : int
        Frames per epoch; the last epoch is cut at ``n_frames``.
    block_size : int
        Edge of one check in pixels, as in :func:`white_noise`.
    seed : int
        Seed of :func:`numpy.random.default_rng`; it fixes both the schedule and the checks.

    Returns
    -------
    xarray.DataArray
        float32 contrast, dims (time, y, x), with non-dimension coords ``epoch_contrast`` and
        ``epoch_mean`` along time (the schedule) and attrs recording every parameter.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    distribution = check_choice("distribution", distribution, DISTRIBUTIONS)
    contrasts = _levels("contrasts", contrasts, signed=False)
    means = _levels("means", means, signed=True)
    switch_frames = check_int("switch_frames", switch_frames)
    block_size = check_int("block_size", block_size)
    seed = check_seed(seed)
    if distribution == "binary" and max(abs(m) for m in means) + max(contrasts) > 1.0:
        raise RetinaCodecError(
            f"binary noise at contrast {max(contrasts)} around mean {max(means, key=abs)} leaves "
            "[-1, 1]; expected |mean| + contrast <= 1 for every pair"
        )

    rng = np.random.default_rng(seed)
    n_epochs = -(-n_frames // switch_frames)
    epoch_contrast = np.repeat(rng.choice(np.asarray(contrasts, np.float32), n_epochs), switch_frames)[:n_frames]
    epoch_mean = np.repeat(rng.choice(np.asarray(means, np.float32), n_epochs), switch_frames)[:n_frames]
    frames = _noise_frames(rng, n_frames, size, block_size, distribution, epoch_contrast)
    frames += epoch_mean[:, None, None]
    np.clip(frames, -1.0, 1.0, out=frames)
    stim = make_stimulus(
        frames,
        frame_rate_hz,
        kind="switching_white_noise",
        **provenance(
            n_frames=n_frames,
            size=size,
            distribution=distribution,
            contrasts=list(contrasts),
            means=list(means),
            switch_frames=switch_frames,
            block_size=block_size,
            seed=seed,
        ),
    )
    return stim.assign_coords(epoch_contrast=("time", epoch_contrast), epoch_mean=("time", epoch_mean))
