"""The linear-nonlinear (LN) baseline: a cropped spatiotemporal filter per cell, then a binned
static nonlinearity.

:class:`LNModel` has the retina CNN's interface (``history``, ``size``, ``forward``,
``forward_movie``, ``config``), so :func:`retinacodec.models.predict`, checkpoints and the IRF code
take it as they take a CNN. :func:`fit_ln` fits it by ridge regression (Chichilnisky 2001;
McIntosh et al. 2016 compare their CNN against it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from torch import nn

from ..errors import RetinaCodecError
from .retina_cnn import RetinaCNN, movie_convolution

if TYPE_CHECKING:
    from .virtual_retina import VirtualRetina

LN_KEYS = ("n_cells", "history", "size", "n_bins")
"""Constructor arguments that define an LN model's shape (stored in checkpoints)."""
MIN_STA_SCORE = 5.0
"""Score of the STA-energy peak (robust standard deviations over pixels, :func:`_peaks`) from
which it is taken for the cell's position: ON, OFF and OMS cells of the virtual retina score 9-94
after 5 minutes of 50 px white noise and 4.5-34 after 2.2 minutes of 20 px; cells whose spikes
were shuffled in time 2.6-6.6."""
MIN_ENERGY_SCORE = 4.0
"""Score of the energy-map peak from which it is taken for the position of a cell without a
linear receptive field: the virtual retina's ON-OFF cells score 4.3-7.5 after 5 minutes of 50 px
white noise (within 2 px of their true positions) and 3.7-5.1 after 2.2 minutes of 20 px; cells
whose spikes were shuffled in time 1.7-4.0."""


class LNModel(nn.Module):
    """Linear filter -> static nonlinearity, one per cell.

    Parameters
    ----------
    n_cells, history, size : int
        Cells, frames per window, frame height and width (px).
    n_bins : int
        Points of each cell's piecewise-linear nonlinearity.
    cell_type, cell_position, frame_rate_hz, stimulus_mean, stimulus_std
        As for :class:`retinacodec.models.RetinaCNN`.

    Attributes
    ----------
    filters : torch.Tensor
        (n_cells, history, size, size) buffer, zero outside each cell's crop; lag channel
        ``history - 1`` meets the current frame.
    offset : torch.Tensor
        (n_cells,) added to the filter output to give the generator signal.
    knots, values : torch.Tensor
        (n_cells, n_bins) generator signals and rates (Hz) of the nonlinearity; rates are
        interpolated linearly between knots and held constant beyond them.
    checkpoint, virtual_retina
        As for :class:`retinacodec.models.RetinaCNN` (set by :func:`retinacodec.models.load` only).
    """

    filters: torch.Tensor
    offset: torch.Tensor
    knots: torch.Tensor
    values: torch.Tensor
    stimulus_mean: torch.Tensor
    stimulus_std: torch.Tensor
    checkpoint: str
    virtual_retina: VirtualRetina | None

    def __init__(
        self,
        n_cells: int,
        history: int,
        size: int,
        n_bins: int = 20,
        *,
        cell_type: list[str] | None = None,
        cell_position: Any = None,
        frame_rate_hz: float = 100.0,
        stimulus_mean: float = 0.0,
        stimulus_std: float = 1.0,
    ) -> None:
        super().__init__()
        for name, value in (("n_cells", n_cells), ("history", history), ("size", size), ("n_bins", n_bins)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < (2 if name == "n_bins" else 1)
            ):
                raise RetinaCodecError(f"LN {name} is {value!r}; expected a positive integer (n_bins >= 2)")
        self.architecture = {"n_cells": int(n_cells), "history": int(history), "size": int(size), "n_bins": int(n_bins)}
        self.register_buffer("filters", torch.zeros(n_cells, history, size, size))
        self.register_buffer("offset", torch.zeros(n_cells))
        self.register_buffer("knots", torch.linspace(-1, 1, n_bins).repeat(n_cells, 1))
        self.register_buffer("values", torch.ones(n_cells, n_bins))
        self.register_buffer("stimulus_mean", torch.tensor(float(stimulus_mean)))
        self.register_buffer("stimulus_std", torch.tensor(float(stimulus_std)))
        self.cell_type = ["unknown"] * n_cells if cell_type is None else [str(t) for t in cell_type]
        position = np.full((n_cells, 2), np.nan) if cell_position is None else np.asarray(cell_position, float)
        if len(self.cell_type) != n_cells or position.shape != (n_cells, 2):
            raise RetinaCodecError(f"cell_type and cell_position must give one entry per cell ({n_cells})")
        self.cell_position = position
        self.frame_rate_hz = float(frame_rate_hz)
        self.name = "untrained"

    history = property(lambda self: self.architecture["history"], doc="Frames per input window.")
    size = property(lambda self: self.architecture["size"], doc="Frame height and width (px).")
    n_cells = property(lambda self: self.architecture["n_cells"], doc="Number of cells.")

    set_normalisation = RetinaCNN.set_normalisation

    def nonlinearity(self, generator: torch.Tensor) -> torch.Tensor:
        """Rates (Hz) of generator signals (N, n_cells), interpolated between the knots."""
        knots = self.knots.T.contiguous()
        index = torch.stack(
            [torch.searchsorted(self.knots[k].contiguous(), generator[:, k].contiguous()) for k in range(self.n_cells)],
            1,
        ).clamp(1, self.knots.shape[1] - 1)
        cells = torch.arange(self.n_cells, device=generator.device)
        left, right = knots[index - 1, cells], knots[index, cells]
        low, high = self.values.T[index - 1, cells], self.values.T[index, cells]
        weight = ((generator - left) / (right - left).clamp_min(1e-12)).clamp(0, 1)
        return low + weight * (high - low)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, history, size, size) normalised windows -> (N, n_cells) rates in Hz."""
        return self.nonlinearity(torch.einsum("nlhw,klhw->nk", x, self.filters) + self.offset)

    def forward_movie(self, movie: torch.Tensor) -> torch.Tensor:
        """(B, T, size, size) normalised frames -> (B, T - history + 1, n_cells) rates in Hz."""
        if movie.ndim != 4 or movie.shape[-2:] != (self.size, self.size) or movie.shape[1] < self.history:
            raise RetinaCodecError(
                f"movie has shape {tuple(movie.shape)}; expected (batch, time >= {self.history}, "
                f"{self.size}, {self.size})"
            )
        generator = movie_convolution(movie, self.filters, self.offset)[..., 0, 0]
        n_batch, n_windows = generator.shape[:2]
        return self.nonlinearity(generator.reshape(-1, self.n_cells)).reshape(n_batch, n_windows, -1)

    def config(self) -> dict[str, Any]:
        """Shape and metadata as plain types; ``kind`` is ``"ln"`` (see ``registry``)."""
        position = [[None if np.isnan(v) else float(v) for v in row] for row in self.cell_position]
        return {
            "kind": "ln",
            "architecture": dict(self.architecture),
            "cell_type": list(self.cell_type),
            "cell_position": position,
            "frame_rate_hz": self.frame_rate_hz,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LNModel:
        """Build an (unfitted) LN model from :meth:`config`'s mapping."""
        try:
            architecture = {key: config["architecture"][key] for key in LN_KEYS}
            position = np.array(
                [[np.nan if v is None else v for v in row] for row in config["cell_position"]], dtype=float
            ).reshape(-1, 2)
            model = cls(
                **architecture,
                cell_type=config["cell_type"],
                cell_position=position,
                frame_rate_hz=config["frame_rate_hz"],
            )
        except (KeyError, TypeError) as exc:
            raise RetinaCodecError(f"LN model configuration is incomplete or malformed ({exc!r})") from None
        model.name = str(config.get("name", "untrained"))
        return model


def temporal_basis(history: int, count: int) -> np.ndarray:
    """(count, history) tent functions at ``count`` knots spread over the lags, log-spaced so that
    recent lags (the end of a window) are resolved finest; they sum to 1 at every lag."""
    if count >= history:
        return np.eye(history)
    lags_back = np.arange(history)[::-1].astype(float)  # channel l is history-1-l frames back
    knots = np.expm1(np.linspace(0, np.log1p(history - 1), count))
    basis = np.stack([np.interp(lags_back, knots, np.eye(count)[i]) for i in range(count)])
    return basis / basis.sum(0, keepdims=True)


def _blur(array: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (``sigma`` px) of the last two axes, zero beyond the frame, divided by its
    noise gain, so that white noise has the same variance after it at every pixel (a reflecting
    blur would count edge pixels twice and make the corners look like receptive fields)."""
    height, width = array.shape[-2:]
    gain = [
        np.sqrt((gaussian_filter1d(np.eye(n), sigma, axis=0, mode="constant") ** 2).sum(1)) for n in (height, width)
    ]
    blurred = gaussian_filter(array, (0,) * (array.ndim - 2) + (sigma, sigma), mode="constant")
    return (blurred / np.outer(*gain)).astype(array.dtype, copy=False)


def _peaks(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cells, 2) [y, x] of each (cells, H, W) map's maximum, and its score: (peak - median) /
    the robust standard deviation over pixels (1.4826 x the median absolute deviation, which the
    receptive field itself barely moves, even on small frames)."""
    flat = maps.reshape(maps.shape[0], -1)
    median = np.median(flat, 1)
    spread = 1.4826 * np.median(np.abs(flat - median[:, None]), 1)
    score = (flat.max(1) - median) / np.maximum(spread, 1e-12)
    return np.stack(np.unravel_index(flat.argmax(1), maps.shape[1:]), 1).astype(float), score


def _energy_map(frames: list[np.ndarray], rates: list[np.ndarray], kernel: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(cells, H, W) covariance of each cell's rate with the squared output of ``kernel`` (history,)
    on every pixel of the blurred frames (1 px), blurred (1.5 px): where a cell that rectifies
    both polarities pools its inputs."""
    history = kernel.size
    weight = torch.as_tensor(np.ascontiguousarray(kernel), dtype=torch.float32)[None, None]
    mean = np.concatenate(rates).mean(0)
    total: torch.Tensor | float = 0.0
    for movie, rate in zip(frames, rates):
        centred = torch.as_tensor(rate - mean, dtype=torch.float32)
        for start in range(0, rate.shape[0], chunk):
            block = _blur(np.asarray(movie[start : start + chunk + history - 1], np.float32), 1.0)
            pixels = torch.as_tensor(block.reshape(block.shape[0], -1).T.copy())[:, None]
            energy = torch.nn.functional.conv1d(pixels, weight)[:, 0] ** 2  # (pixels, windows)
            total = total + centred[start : start + energy.shape[1]].T @ energy.T
    return _blur(np.asarray(total).reshape(-1, *frames[0].shape[1:]), 1.5)


def receptive_field_centres(
    frames: list[np.ndarray], rates: list[np.ndarray], history: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n_cells, 2) [y, x] px: where each cell's receptive field is, and (n_cells,) whether it was
    found.

    ``frames`` are normalised (T, H, W) segments and ``rates`` their (T - history + 1, n_cells)
    responses, one per window.

    Notes
    -----
    Two maps per cell: its spike-triggered-average energy (the sum over lags of the squared STA
    after a 1 px blur, which averages out most of the noise of a short recording), and, for a cell
    that rectifies both polarities as ON-OFF cells do and so has no linear receptive field, its
    :func:`_energy_map` through the temporal filter the cells with a linear receptive field share
    (the first singular vector of the STA time courses of the cells whose STA scores at least
    :data:`MIN_STA_SCORE`). A cell's position is the peak of the map that scores higher
    relative to its threshold (:data:`MIN_STA_SCORE`, :data:`MIN_ENERGY_SCORE`; scores as in
    :func:`_peaks`), found when it reaches that threshold. Without a linear cell, or on frames of 2 px or less,
    there is no
    energy map.
    """
    height, width = frames[0].shape[1:]
    total: torch.Tensor | float = 0.0
    for movie, rate in zip(frames, rates):
        flat = torch.as_tensor(movie.reshape(movie.shape[0], -1))
        target = torch.as_tensor(rate, dtype=torch.float32)
        total = total + torch.stack([target.T @ flat[lag : lag + target.shape[0]] for lag in range(history)], 1)
    sta = np.asarray(total).reshape(-1, history, height, width)
    if min(height, width) > 2:
        sta = _blur(sta, 1.0)
    centres, score = _peaks((sta**2).sum(1))
    found = score >= MIN_STA_SCORE
    if min(height, width) <= 2 or not found.any():
        return centres, found
    courses = np.stack([sta[cell, :, int(y), int(x)] for cell, (y, x) in enumerate(centres) if found[cell]])
    kernel = np.linalg.svd(courses / np.linalg.norm(courses, axis=1, keepdims=True), full_matrices=False)[2][0]
    energy_centres, energy_score = _peaks(_energy_map(frames, rates, kernel))
    energy = energy_score / MIN_ENERGY_SCORE > score / MIN_STA_SCORE
    centres[energy] = energy_centres[energy]
    return centres, np.where(energy, energy_score >= MIN_ENERGY_SCORE, found)


def crop_size(size: int) -> int:
    """Edge (px) of the LN filter's crop: 9 px on 50 px frames, scaled with the frame, odd."""
    return min(size, max(1, int(round(9 * size / 50)) // 2 * 2 + 1))


def _design(movie: np.ndarray, corner: tuple[int, int], crop: int, basis: torch.Tensor) -> torch.Tensor:
    """(windows, basis x crop^2) the crop's pixels filtered by each temporal basis function."""
    y0, x0 = corner
    patch = torch.as_tensor(np.ascontiguousarray(movie[:, y0 : y0 + crop, x0 : x0 + crop]), dtype=torch.float32)
    pixels = patch.reshape(patch.shape[0], -1).T[:, None]  # (crop^2, 1, T)
    filtered = torch.nn.functional.conv1d(pixels, basis[:, None])  # (crop^2, B, windows)
    return filtered.permute(2, 1, 0).reshape(filtered.shape[2], -1)


def _ridge(
    train: list[tuple[torch.Tensor, torch.Tensor]],
    validation: list[tuple[torch.Tensor, torch.Tensor]],
    penalties: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Weights and intercept of the ridge fit whose penalty gives the best validation correlation."""
    x_sum = cast(torch.Tensor, sum(x.sum(0, dtype=torch.float64) for x, _ in train))  # train is not empty
    y_sum = sum(float(y.sum()) for _, y in train)
    n = sum(x.shape[0] for x, _ in train)
    gram = sum((x.T @ x).double() for x, _ in train) - torch.outer(x_sum, x_sum) / n
    cross = sum((x.T @ y).double() for x, y in train) - x_sum * y_sum / n
    eigenvalues, vectors = torch.linalg.eigh(gram)
    rotated = vectors.T @ cross
    x_val = torch.cat([x for x, _ in validation]).double()
    y_val = torch.cat([y for _, y in validation]).double()
    best: tuple[float, torch.Tensor | None] = (-np.inf, None)
    for penalty in penalties * float(eigenvalues.clamp_min(0).mean()):
        weights = vectors @ (rotated / (eigenvalues.clamp_min(0) + penalty))
        prediction = x_val @ weights
        score = float(torch.corrcoef(torch.stack([prediction, y_val]))[0, 1]) if prediction.std() > 0 else -1.0
        if np.isfinite(score) and score > best[0]:
            best = (score, weights)
    weights = best[1] if best[1] is not None else torch.zeros_like(cross)
    return weights.numpy(), float(y_sum / n - float(x_sum @ weights) / n)


PENALTIES = np.logspace(-4, 2, 13)
"""Ridge penalties tried per cell by :func:`fit_ln` (chosen on validation)."""


def fit_ln(
    model: LNModel,
    train: list[tuple[np.ndarray, np.ndarray]],
    validation: list[tuple[np.ndarray, np.ndarray]],
    penalties: np.ndarray = PENALTIES,
) -> LNModel:
    """Fit every cell's filter (ridge, penalty chosen on validation) and nonlinearity, in place.

    Parameters
    ----------
    model : LNModel
        Supplies history, size, n_bins and frame rate; its normalisation must already be set.
    train, validation : list of (frames, rates)
        Normalised (T, size, size) float32 frames of contiguous stretches and the (T - history + 1,
        n_cells) responses (Hz) of their windows (window ``i`` ends at frame ``i + history - 1``).
    penalties : numpy.ndarray
        Ridge penalties to try, in units of the mean eigenvalue of the stimulus covariance.

    Returns
    -------
    LNModel
        ``model``, fitted.

    Notes
    -----
    Each cell's filter is cropped to :func:`crop_size` px around its receptive field
    (:func:`receptive_field_centres`: the STA-energy peak, or for a cell without a linear receptive
    field the peak of its rectified-input energy), which becomes the cell's position when the
    model has none and the peak is significant (NaN otherwise), and expanded over
    :func:`temporal_basis` (10 functions, or every lag where that is cheap), so the regression
    has at most 10 x 81 weights per cell on
    50 px frames. The nonlinearity is the mean rate in ``n_bins`` quantile bins of the
    training generator signal.
    """
    history, size = model.history, model.size
    crop = crop_size(size)
    count = history if crop * crop * history <= 1000 else min(history, 10)
    basis_np = temporal_basis(history, count)
    basis = torch.as_tensor(basis_np, dtype=torch.float32)
    centres, found = receptive_field_centres([f for f, _ in train], [c for _, c in train], history)
    filters = np.zeros((model.n_cells, history, size, size), np.float32)
    offsets, knots, values = [], [], []
    for cell in range(model.n_cells):
        y0, x0 = (int(np.clip(c - crop // 2, 0, size - crop)) for c in centres[cell])
        corner = (y0, x0)
        pairs = [
            [(_design(f, corner, crop, basis), torch.as_tensor(r[:, cell], dtype=torch.float32)) for f, r in part]
            for part in (train, validation)
        ]
        weights, offset = _ridge(pairs[0], pairs[1], penalties)
        kernel = basis_np.T @ weights.reshape(count, crop * crop)
        filters[cell, :, corner[0] : corner[0] + crop, corner[1] : corner[1] + crop] = kernel.reshape(
            history, crop, crop
        )
        generator = torch.cat([x for x, _ in pairs[0]]).double().numpy() @ weights + offset
        observed = torch.cat([y for _, y in pairs[0]]).numpy()
        bins = np.array_split(np.argsort(generator, kind="stable"), model.architecture["n_bins"])
        knot = np.array([generator[b].mean() for b in bins])
        knots.append(knot + 1e-9 * np.arange(knot.size))
        values.append([observed[b].mean() for b in bins])
        offsets.append(offset)
    with torch.no_grad():
        model.filters.copy_(torch.as_tensor(filters))
        model.offset.copy_(torch.as_tensor(offsets, dtype=torch.float32))
        model.knots.copy_(torch.as_tensor(np.array(knots), dtype=torch.float32))
        model.values.copy_(torch.as_tensor(np.array(values), dtype=torch.float32))
    if np.isnan(model.cell_position).all() and size > 1:
        model.cell_position = np.where(found[:, None], centres, np.nan)
    return model
