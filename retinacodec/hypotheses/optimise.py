"""Stimuli designed by gradient ascent: a smooth movie of bounded contrast that maximises an objective.

The parameterisation is the one of the most-exciting-input literature (Walker et al. 2019;
Hoefling et al. 2024): a free tensor smoothed by a separable Gaussian in time and space, scaled into
a norm budget, squashed into a contrast box, and jittered spatially at every step; Adam follows the
objective's own gradients (torch autograd).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import xarray as xr

from .._validation import check_int, check_number
from ..stimuli.base import make_stimulus

Objective = Callable[[torch.Tensor], torch.Tensor]
"""Maps a float32 (time, y, x) contrast movie to a scalar tensor to maximise."""


@dataclass(frozen=True)
class DesignSettings:
    """How a stimulus is optimised, validated on construction.

    Raises
    ------
    RetinaCodecError
        For a value out of range or of the wrong type, naming the field and what it expects.
    """

    n_frames: int = 300
    """Frames of the designed movie (300 frames = 3 s at 100 Hz)."""
    max_contrast: float = 0.4
    """Box bound: every pixel's contrast lies in (-max_contrast, max_contrast) around the mean
    (0.4 is the range of the shipped model's training noise, binary at +-0.4)."""
    rms_contrast: float | None = 0.2
    """Norm budget: the movie's root-mean-square contrast is at most this; None for the box only."""
    sigma_px: float = 1.0
    """Spatial standard deviation (px) of the Gaussian smoothing of the free tensor (0: none)."""
    sigma_frames: float = 2.0
    """Temporal standard deviation (frames) of the smoothing (0: none)."""
    jitter_px: int = 1
    """Largest random shift (px) of the movie at each step, in y and x (0: none)."""
    steps: int = 40
    """Adam steps (the CNN's objective levels off by about 40 on the shipped model)."""
    learning_rate: float = 0.05
    """Adam's learning rate (units of the free tensor, whose start has the norm budget's scale)."""
    seed: int = 0
    """Seed of the start and of the jitter."""

    def __post_init__(self) -> None:
        checked = {
            "n_frames": check_int("n_frames", self.n_frames, minimum=1),
            "max_contrast": check_number("max_contrast", self.max_contrast, strictly_above=0),
            "rms_contrast": None
            if self.rms_contrast is None
            else check_number("rms_contrast", self.rms_contrast, strictly_above=0),
            "sigma_px": check_number("sigma_px", self.sigma_px, minimum=0),
            "sigma_frames": check_number("sigma_frames", self.sigma_frames, minimum=0),
            "jitter_px": check_int("jitter_px", self.jitter_px, minimum=0),
            "steps": check_int("steps", self.steps, minimum=1),
            "learning_rate": check_number("learning_rate", self.learning_rate, strictly_above=0),
            "seed": check_int("seed", self.seed, minimum=0),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def attrs(self) -> dict[str, float | int | str]:
        """The settings as netCDF attrs (``design_`` prefix; None written as "none")."""
        return {f"design_{name}": "none" if value is None else value for name, value in vars(self).items()}


def _gaussian_kernel(sigma: float) -> torch.Tensor | None:
    """Normalised 1-D Gaussian over +-3 sigma, or None for sigma 0."""
    if sigma == 0:
        return None
    half = max(1, int(np.ceil(3 * sigma)))
    offsets = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _smoothing_matrix(n: int, sigma: float) -> torch.Tensor:
    """(n, n) matrix of a 1-D Gaussian smoothing over ``n`` samples with replicated edges."""
    kernel = _gaussian_kernel(sigma)
    assert kernel is not None
    half = kernel.numel() // 2
    columns = (torch.arange(n)[:, None] + torch.arange(-half, half + 1)[None]).clamp(0, n - 1)
    return torch.zeros(n, n).scatter_add_(1, columns, kernel.expand(n, -1).contiguous())


def smooth(movie: torch.Tensor, sigma_frames: float, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian smoothing of a (time, y, x) tensor, edges replicated.

    Parameters
    ----------
    movie : torch.Tensor
        (time, y, x).
    sigma_frames, sigma_px : float
        Standard deviations in frames and pixels; 0 leaves that axis alone.

    Returns
    -------
    torch.Tensor
        Same shape; a linear map of ``movie`` (gradients flow through it), applied as one matrix
        product per axis.
    """
    n_time, n_y, n_x = movie.shape
    if sigma_frames > 0:
        along_time = _smoothing_matrix(n_time, sigma_frames).to(movie)
        movie = (along_time @ movie.reshape(n_time, -1)).reshape(n_time, n_y, n_x)
    if sigma_px > 0:
        movie = _smoothing_matrix(n_y, sigma_px).to(movie) @ movie @ _smoothing_matrix(n_x, sigma_px).to(movie).T
    return movie


def bounded(free: torch.Tensor, settings: DesignSettings) -> torch.Tensor:
    """The contrast movie of a free tensor: smoothed, scaled into the norm budget, squashed into the box.

    Parameters
    ----------
    free : torch.Tensor
        (time, y, x) free parameters.
    settings : DesignSettings
        Smoothing, ``rms_contrast`` and ``max_contrast``.

    Returns
    -------
    torch.Tensor
        (time, y, x) contrast with :math:`|x| < c_{max}` everywhere and RMS :math:`\\le c_{rms}`.

    Notes
    -----
    :math:`x = c_{max} \\tanh(y / c_{max})` with :math:`y = s \\cdot \\min(1, c_{rms} /
    \\mathrm{rms}(s))` and :math:`s` the smoothed free tensor. Since :math:`|\\tanh u| \\le |u|`,
    the squashing keeps the norm budget; on the budget's sphere the map is the usual
    normalisation, so a gradient ascent's stationary points are those of the constrained problem.
    """
    movie = smooth(free, settings.sigma_frames, settings.sigma_px)
    if settings.rms_contrast is not None:
        rms = movie.pow(2).mean().sqrt().clamp_min(1e-12)
        movie = movie * torch.clamp(settings.rms_contrast / rms, max=1.0)
    return settings.max_contrast * torch.tanh(movie / settings.max_contrast)


def _jittered(movie: torch.Tensor, jitter_px: int, generator: torch.Generator) -> torch.Tensor:
    """The movie shifted (circularly) by a random offset in [-jitter_px, jitter_px] in y and x."""
    if jitter_px == 0:
        return movie
    dy, dx = (int(v) for v in torch.randint(-jitter_px, jitter_px + 1, (2,), generator=generator))
    return torch.roll(movie, shifts=(dy, dx), dims=(1, 2))


def optimise_stimulus(
    objective: Objective,
    size: int,
    settings: DesignSettings | None = None,
    *,
    frame_rate_hz: float = 100.0,
    mean: float = 0.0,
    kind: str = "designed",
) -> tuple[xr.DataArray, np.ndarray]:
    """Maximise ``objective`` over smooth movies of bounded contrast with Adam.

    Parameters
    ----------
    objective : callable
        float32 (time, y, x) contrast tensor -> scalar tensor, differentiable (torch autograd).
    size : int
        Height and width of the frames (px).
    settings : DesignSettings, optional
        Length, bounds, smoothing, jitter, steps, learning rate and seed; the defaults when omitted.
    frame_rate_hz : float
        Frame rate of the returned stimulus (Hz).
    mean : float
        Contrast the bounds are centred on (the training stimulus's mean).
    kind : str
        The stimulus's ``kind`` attr.

    Returns
    -------
    stimulus : xarray.DataArray
        float32 (time, y, x) contrast ``mean + bounded(free)`` at the last step (unjittered),
        with the settings (``design_*``) and ``objective`` (its final value) in attrs.
    trace : numpy.ndarray
        float64 (steps,) the objective at every step (on the jittered movie).

    Notes
    -----
    The free tensor starts as seeded Gaussian noise of standard deviation ``rms_contrast`` (or
    ``max_contrast / 2`` without a budget). The same seed gives the same movie.
    """
    settings = DesignSettings() if settings is None else settings
    size = check_int("size", size)
    generator = torch.Generator().manual_seed(settings.seed)
    scale = settings.rms_contrast if settings.rms_contrast is not None else settings.max_contrast / 2
    free = (scale * torch.randn((settings.n_frames, size, size), generator=generator)).requires_grad_(True)
    optimiser = torch.optim.Adam([free], lr=settings.learning_rate)
    trace = np.empty(settings.steps)
    for step in range(settings.steps):
        optimiser.zero_grad()
        value = objective(mean + _jittered(bounded(free, settings), settings.jitter_px, generator))
        (-value).backward()
        optimiser.step()
        trace[step] = float(value.detach())
    with torch.no_grad():
        movie = (mean + bounded(free, settings)).numpy()
        final = float(objective(torch.as_tensor(movie)))
    attrs = cast(dict[str, Any], settings.attrs())
    stimulus = make_stimulus(movie, frame_rate_hz, kind=kind, objective=final, **attrs)
    return stimulus, trace
