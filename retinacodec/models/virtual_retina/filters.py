"""Linear filters of the virtual retina and two interchangeable ways to apply them.

Temporal filters are defined once, as cascades of first-order recursive (IIR) low-passes run by
:func:`scipy.signal.lfilter`; spatial filters are truncated Gaussians as in
:func:`scipy.ndimage.gaussian_filter`. :class:`TorchOps` applies them fast (causal FFT
convolution with the filter's impulse response along time, banded matrix products in space,
all frames at once); :class:`ScipyOps` applies them plainly (``lfilter`` along time, ``gaussian_filter``
frame by frame) and serves as the reference in tests and in the benchmark.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import scipy.special
import torch

TRUNCATE = 4.0
"""Gaussian kernels stop at ``int(TRUNCATE * sigma + 0.5)`` px from their centre."""
IMPULSE_TOLERANCE = 1e-8
"""Impulse responses are cut where the remaining tail holds less than this fraction of |h|."""
MAX_TAPS = 4096


def lowpass(x: np.ndarray, tau_frames: float, stages: int = 1) -> np.ndarray:
    """Cascade of ``stages`` first-order low-passes along axis 0 (zero initial state).

    Parameters
    ----------
    x : numpy.ndarray
        Signal, time on axis 0 (frames).
    tau_frames : float
        Time constant of each stage in frames.
    stages : int
        Number of identical stages.

    Returns
    -------
    numpy.ndarray
        Filtered signal, same shape.

    Notes
    -----
    Each stage is :math:`y_t = a\\,y_{t-1} + (1 - a)\\,x_t` with :math:`a = e^{-1/\\tau}`, the exact
    discretisation of :math:`\\tau\\,\\dot y = x - y` for a piecewise-constant input; its gain at
    zero frequency is 1. A cascade of :math:`n` stages has a discrete gamma impulse response.
    """
    decay = np.exp(-1.0 / tau_frames)
    for _ in range(stages):
        x = scipy.signal.lfilter([1.0 - decay], [1.0, -decay], x, axis=0)
    return x


def undershoot(x: np.ndarray, weight: float, tau_frames: float) -> np.ndarray:
    """Slow adaptation: subtract ``weight`` times a first-order low-pass of ``x``.

    Notes
    -----
    :math:`y = x - w\\,(E_\\tau * x)`; a step settles at :math:`1 - w` of its initial height.
    """
    return x - weight * lowpass(x, tau_frames)


@dataclass(frozen=True)
class TemporalFilter:
    """A causal linear filter along time, defined by a function of a (time, ...) array."""

    name: str
    """Label, for messages."""
    apply: Callable[[np.ndarray], np.ndarray]
    """The definition: filters axis 0 of a float64 array with zero initial state."""

    def then(self, other: TemporalFilter) -> TemporalFilter:
        """The cascade: this filter followed by ``other``."""
        steps = (self.apply, other.apply)
        return TemporalFilter(f"{self.name} > {other.name}", functools.partial(_cascade, steps=steps))

    def impulse_response(self) -> np.ndarray:
        """The filter's impulse response, float64, cut where the tail is negligible.

        Returns
        -------
        numpy.ndarray
            Taps ``h[k]`` (one per frame) so that ``y[t] = sum_k h[k] x[t - k]``; the tail dropped
            holds less than :data:`IMPULSE_TOLERANCE` of ``sum |h|``.
        """
        return _impulse_response(self)


def _cascade(x: np.ndarray, steps) -> np.ndarray:
    for step in steps:
        x = step(x)
    return x


@functools.lru_cache(maxsize=64)
def _impulse_response(filt: TemporalFilter) -> np.ndarray:
    impulse = np.zeros(MAX_TAPS)
    impulse[0] = 1.0
    taps = filt.apply(impulse)
    tail = np.cumsum(np.abs(taps)[::-1])[::-1]
    keep = int(np.searchsorted(-tail, -IMPULSE_TOLERANCE * tail[0]))
    return taps[: max(keep, 1)]


@functools.lru_cache(maxsize=64)
def gaussian_taps(sigma_px: float) -> np.ndarray:
    """The 1-D Gaussian kernel :func:`scipy.ndimage.gaussian_filter` uses (taps sum to 1)."""
    radius = int(TRUNCATE * sigma_px + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    return scipy.ndimage.gaussian_filter1d(impulse, sigma_px, mode="constant", truncate=TRUNCATE)


def _as_sigmas(sigmas_px: float | tuple[float, ...]) -> tuple[float, ...]:
    return tuple(float(s) for s in sigmas_px) if isinstance(sigmas_px, tuple) else (float(sigmas_px),)


def blur_matrix(sigmas_px: float | tuple[float, ...], size: int) -> np.ndarray:
    """(size, size) matrix of successive zero-padded 1-D Gaussian blurs along one axis.

    Parameters
    ----------
    sigmas_px : float or tuple of float
        Standard deviations (px) of the blurs, applied in turn.
    size : int
        Length of the axis (px).

    Returns
    -------
    numpy.ndarray
        float64 ``M`` such that ``M @ column`` equals ``gaussian_filter1d`` with
        ``mode="constant"`` applied once per sigma.
    """
    matrix = np.eye(size)
    for sigma in _as_sigmas(sigmas_px):
        taps = gaussian_taps(sigma)
        radius = (len(taps) - 1) // 2
        offset = np.arange(size)[None, :] - np.arange(size)[:, None] + radius
        inside = (offset >= 0) & (offset < len(taps))
        matrix = np.where(inside, taps[np.clip(offset, 0, len(taps) - 1)], 0.0) @ matrix
    return matrix


class TorchOps:
    """Apply the circuit's filters to whole stimuli with torch (float32, CPU), all frames at once.

    Arrays are held as (y, x, time) tensors so that time is contiguous.

    Notes
    -----
    Temporal filters sharing an input cost one real FFT of every pixel's time course (length the
    next fast size >= T + len(h) - 1, so that the circular convolution equals the linear one) plus
    one inverse FFT each. A Gaussian blur, or a sequence of them, is two matrix products with
    banded (size, size) matrices, one per axis; the band's edges match ``mode="constant"`` in
    scipy. Pooling at a cell is one dot product of the map with the cell's Gaussian weights.
    """

    def __init__(self, dtype: torch.dtype = torch.float32):
        self.dtype = dtype

    def asarray(self, frames: np.ndarray) -> torch.Tensor:
        """(time, y, x) numpy frames -> (y, x, time) tensor."""
        return torch.tensor(np.moveaxis(np.asarray(frames), 0, -1), dtype=self.dtype)

    @staticmethod
    def frames(x: torch.Tensor) -> np.ndarray:
        """(y, x, time) tensor -> (time, y, x) numpy array."""
        return np.moveaxis(x.numpy(), -1, 0)

    def blur(self, x: torch.Tensor, sigmas_px: float | tuple[float, ...]) -> torch.Tensor:
        """Gaussian blur(s) of every frame, zero outside the field."""
        n_y, n_x, n_time = x.shape
        rows = self._matrix(_as_sigmas(sigmas_px), n_y)
        cols = self._matrix(_as_sigmas(sigmas_px), n_x)
        blurred = (rows @ x.reshape(n_y, n_x * n_time)).reshape(n_y, n_x, n_time)
        return torch.matmul(cols, blurred)

    @functools.lru_cache(maxsize=32)  # noqa: B019 (a few small matrices per retina, kept with it)
    def _matrix(self, sigmas_px: tuple[float, ...], size: int) -> torch.Tensor:
        return torch.as_tensor(blur_matrix(sigmas_px, size), dtype=self.dtype)

    def temporal(self, x: torch.Tensor, filters: list[TemporalFilter]) -> list[torch.Tensor]:
        """Causal filtering along time by FFT convolution; one output per filter."""
        taps = [f.impulse_response() for f in filters]
        n_time = x.shape[-1]
        n_fft = scipy.fft.next_fast_len(n_time + max(map(len, taps)) - 1, real=True)
        spectrum = torch.fft.rfft(x, n=n_fft, dim=-1)
        return [
            torch.fft.irfft(spectrum * torch.fft.rfft(torch.as_tensor(h, dtype=self.dtype), n=n_fft), n=n_fft, dim=-1)[
                ..., :n_time
            ]
            for h in taps
        ]

    def pool(self, x: torch.Tensor, sigma_px: float, cell_yx: np.ndarray) -> np.ndarray:
        """Gaussian-weighted sums of a map around each cell: (time, cell) float64."""
        n_y, n_x, n_time = x.shape
        rows = blur_matrix(sigma_px, n_y)[cell_yx[:, 0]]
        cols = blur_matrix(sigma_px, n_x)[cell_yx[:, 1]]
        weights = torch.as_tensor((rows[:, :, None] * cols[:, None, :]).reshape(len(cell_yx), -1), dtype=self.dtype)
        return (weights @ x.reshape(n_y * n_x, n_time)).T.double().numpy()

    @staticmethod
    def read(x: torch.Tensor, positions: np.ndarray) -> np.ndarray:
        """Values at [y, x] positions: (time, position)."""
        return x[positions[:, 0], positions[:, 1]].T.numpy()

    @staticmethod
    def relu(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @staticmethod
    def sigmoid(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class ScipyOps:
    """The plain reference: ``lfilter`` along time and ``gaussian_filter`` frame by frame (float64).

    Arrays are held as (time, y, x) numpy arrays.
    """

    @staticmethod
    def asarray(frames: np.ndarray) -> np.ndarray:
        return np.asarray(frames, dtype=np.float64)

    @staticmethod
    def frames(x: np.ndarray) -> np.ndarray:
        return x

    @staticmethod
    def blur(x: np.ndarray, sigmas_px: float | tuple[float, ...]) -> np.ndarray:
        """Gaussian blur(s) of each frame, zero outside the field."""
        for sigma in _as_sigmas(sigmas_px):
            x = np.stack(
                [scipy.ndimage.gaussian_filter(frame, sigma, mode="constant", truncate=TRUNCATE) for frame in x]
            )
        return x

    @staticmethod
    def temporal(x: np.ndarray, filters: list[TemporalFilter]) -> list[np.ndarray]:
        """Causal filtering along time by each filter's recursive definition."""
        return [f.apply(x) for f in filters]

    def pool(self, x: np.ndarray, sigma_px: float, cell_yx: np.ndarray) -> np.ndarray:
        """Blur the whole map, then read it at each cell: (time, cell)."""
        return self.read(self.blur(x, sigma_px), cell_yx)

    @staticmethod
    def read(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return x[:, positions[:, 0], positions[:, 1]]

    @staticmethod
    def relu(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)

    @staticmethod
    def sigmoid(x: np.ndarray) -> np.ndarray:
        return scipy.special.expit(x)
