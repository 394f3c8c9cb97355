"""The retina CNN: the deep-retina architecture (McIntosh et al. 2016; Maheswaranathan et al. 2023).

Two convolutional layers stand for the bipolar and amacrine layers of the inner retina and a dense
readout for the ganglion cells. Each named submodule (``bipolar``, ``amacrine``, ``ganglion``)
ends with its nonlinearity, so a forward hook on it sees that layer's output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import torch
from scipy.fft import next_fast_len
from torch import nn

from ..errors import RetinaCodecError

if TYPE_CHECKING:
    from .virtual_retina import VirtualRetina

ARCHITECTURE_KEYS = (
    "n_cells",
    "history",
    "size",
    "bipolar_channels",
    "bipolar_kernel",
    "amacrine_channels",
    "amacrine_kernel",
    "noise_std",
    "readout",
)
"""Constructor arguments that define the network's shape (stored in checkpoints)."""
READOUTS = ("dense", "factorized")
"""Ganglion readouts: a dense linear map, or a spatial mask x feature weights per cell
(Klindt et al. 2017)."""


class GaussianNoise(nn.Module):
    """Add zero-mean Gaussian noise of standard deviation ``std`` in training mode only.

    Parameters
    ----------
    std : float
        Standard deviation of the noise, in units of the (batch-normalised) input.
    """

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x

    def extra_repr(self) -> str:
        return f"std={self.std:g}"


class FactorizedReadout(nn.Module):
    """Each cell reads a spatial mask of the feature maps, then weights the channels.

    Parameters
    ----------
    channels : int
        Channels of the input feature maps.
    side : int
        Height and width of the input feature maps (px).
    n_cells : int
        Number of cells (outputs).

    Notes
    -----
    Klindt et al. (2017): cell :math:`k` responds :math:`\\sum_{c,i,j} a_c(i, j)\\, m_k(i, j)\\,
    w_{kc}` to feature maps :math:`a`, with a "where" (mask :math:`m_k`, side x side) and a "what"
    (features :math:`w_k`), ``side**2 + channels`` weights per cell instead of
    ``side**2 * channels``. The output has no bias (the batch norm after it has one).
    """

    def __init__(self, channels: int, side: int, n_cells: int) -> None:
        super().__init__()
        self.mask = nn.Parameter(torch.full((n_cells, side, side), 1.0 / side))
        self.features = nn.Parameter(torch.randn(n_cells, channels) / np.sqrt(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, channels, side, side) feature maps -> (N, n_cells)."""
        spatial = torch.einsum("nchw,khw->nkc", x, self.mask)
        return (spatial * self.features).sum(-1)

    def sparsity(self) -> torch.Tensor:
        """Mean over cells of ``|m_k|_1 / |m_k|_2`` (1 for one pixel, side for a flat mask);
        scale-free, so the batch norm after the readout cannot undo it."""
        flat = self.mask.flatten(1)
        return (flat.abs().sum(1) / flat.norm(dim=1).clamp_min(1e-8)).mean()


def movie_convolution(movie: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Valid spatiotemporal cross-correlation of movies with kernels that span ``L`` frames, by FFT.

    Parameters
    ----------
    movie : torch.Tensor
        (B, T, H, W) frames, T >= L.
    weight : torch.Tensor
        (C, L, k_y, k_x) kernels; lag channel ``L - 1`` meets the current frame.
    bias : torch.Tensor, optional
        (C,) added to every output.

    Returns
    -------
    torch.Tensor
        (B, T - L + 1, C, H - k_y + 1, W - k_x + 1); index ``t`` is the window ending at frame
        ``t + L - 1``.

    Notes
    -----
    :math:`u_c(t, i, j) = b_c + \\sum_{l,p,q} W_{c,l}(p,q)\\, s(t + l, i + p, j + q)`, evaluated
    as :math:`\\mathcal F^{-1}[\\mathcal F s \\cdot \\overline{\\mathcal F W_c}]` with periodic
    transforms at least as long as the movie (the next length FFTs handle fast); the
    wrap-around touches only indices past the valid range, which are discarded.
    """
    n_time, height, width = movie.shape[1:]
    shape = (next_fast_len(n_time, real=True), height, width)
    dims = (-3, -2, -1)
    spectrum = torch.fft.rfftn(movie, s=shape, dim=dims)
    kernel = torch.fft.rfftn(weight, s=shape, dim=dims)
    drive = torch.fft.irfftn(spectrum[:, None] * kernel.conj()[None], s=shape, dim=dims)
    n_windows = n_time - weight.shape[1] + 1
    drive = drive[:, :, :n_windows, : height - weight.shape[2] + 1, : width - weight.shape[3] + 1]
    if bias is not None:
        drive = drive + bias[None, :, None, None, None]
    return drive.transpose(1, 2)


def _layer(in_channels: int, out_channels: int, kernel: int, noise_std: float) -> nn.Sequential:
    """Convolution -> batch norm -> Gaussian noise (training only) -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel),
        nn.BatchNorm2d(out_channels),
        GaussianNoise(noise_std),
        nn.ReLU(),
    )


class _Normalised(Protocol):
    """A model that normalises its stimulus with buffers (:meth:`RetinaCNN.set_normalisation`
    serves both the CNN and the LN model)."""

    stimulus_mean: torch.Tensor
    stimulus_std: torch.Tensor


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RetinaCodecError(f"{name} is {value!r}; expected a positive integer")
    return int(value)


class RetinaCNN(nn.Module):
    """Convolutional model of the retina mapping a stimulus history to ganglion-cell rates.

    Parameters
    ----------
    n_cells : int
        Number of ganglion cells (outputs).
    history : int
        Number of frames each input window spans (time lags; 40 frames = 400 ms at 100 Hz).
    size : int
        Height and width of the input frames (px).
    bipolar_channels, bipolar_kernel : int
        Channels and square kernel edge (px) of the first ("bipolar") convolution.
    amacrine_channels, amacrine_kernel : int
        Channels and kernel edge (px) of the second ("amacrine") convolution.
    noise_std : float
        Standard deviation of the Gaussian noise added after each batch norm during training
        (regularisation, as in deep-retina); 0 disables it.
    readout : {"dense", "factorized"}
        Ganglion readout: one linear map of all amacrine outputs per cell (deep-retina), or a
        :class:`FactorizedReadout` (a spatial mask times channel weights per cell, Klindt et al.
        2017), which has far fewer weights and suits models fitted to spikes.
    cell_type : list of str, optional
        Ganglion-cell type per output; default ``"unknown"``.
    cell_position : array-like, optional
        (n_cells, 2) [y, x] receptive-field centres (px); default NaN.
    frame_rate_hz : float
        Frame rate the model was trained at (Hz).
    stimulus_mean, stimulus_std : float
        Mean and standard deviation of the training stimulus (contrast); inputs are normalised
        as ``(stimulus - mean) / std`` before :meth:`forward`. Stored as buffers.

    Attributes
    ----------
    bipolar : torch.nn.Sequential
        Conv2d(history -> bipolar_channels) -> BatchNorm2d -> GaussianNoise -> ReLU.
    amacrine : torch.nn.Sequential
        Conv2d(bipolar_channels -> amacrine_channels) -> BatchNorm2d -> GaussianNoise -> ReLU.
    ganglion : torch.nn.Sequential
        Flatten -> Linear(-> n_cells) -> BatchNorm1d -> Softplus (dense readout), or
        FactorizedReadout -> BatchNorm1d -> Softplus; output rates in Hz.
    name : str
        Model name (set by the loader; ``"untrained"`` for a fresh network).
    checkpoint : str
        The file the model was read from (set by :func:`retinacodec.models.load` only).
    virtual_retina : VirtualRetina or None
        The ground truth the model was trained on (set by :func:`retinacodec.models.load` only).

    Notes
    -----
    Convolutions are "valid" (no padding): with the defaults the bipolar layer is 8 x 36 x 36 and
    the amacrine layer 8 x 26 x 26. The input's channels are time lags in chronological order:
    channel ``history - 1`` is the current frame, channel 0 the frame ``history - 1`` steps back.
    """

    stimulus_mean: torch.Tensor
    stimulus_std: torch.Tensor
    checkpoint: str
    virtual_retina: VirtualRetina | None

    def __init__(
        self,
        n_cells: int,
        history: int = 40,
        size: int = 50,
        bipolar_channels: int = 8,
        bipolar_kernel: int = 15,
        amacrine_channels: int = 8,
        amacrine_kernel: int = 11,
        noise_std: float = 0.05,
        readout: str = "dense",
        *,
        cell_type: list[str] | None = None,
        cell_position: Any = None,
        frame_rate_hz: float = 100.0,
        stimulus_mean: float = 0.0,
        stimulus_std: float = 1.0,
    ) -> None:
        super().__init__()
        n_cells = _positive_int("n_cells", n_cells)
        history = _positive_int("history", history)
        size = _positive_int("size", size)
        shape = {
            key: _positive_int(key, value)
            for key, value in (
                ("bipolar_channels", bipolar_channels),
                ("bipolar_kernel", bipolar_kernel),
                ("amacrine_channels", amacrine_channels),
                ("amacrine_kernel", amacrine_kernel),
            )
        }
        side = size - shape["bipolar_kernel"] - shape["amacrine_kernel"] + 2
        if side < 1:
            raise RetinaCodecError(
                f"kernels {bipolar_kernel} and {amacrine_kernel} px leave no output on a {size} px "
                f"input; expected bipolar_kernel + amacrine_kernel <= size + 1"
            )
        if readout not in READOUTS:
            raise RetinaCodecError(f"readout is {readout!r}; expected one of {list(READOUTS)}")
        if not np.isfinite(noise_std) or noise_std < 0:
            raise RetinaCodecError(f"noise_std is {noise_std!r}; expected a number >= 0")
        if not (np.isfinite(stimulus_std) and stimulus_std > 0 and np.isfinite(stimulus_mean)):
            raise RetinaCodecError(
                f"stimulus normalisation mean={stimulus_mean!r}, std={stimulus_std!r}; expected a "
                f"finite mean and a positive std"
            )
        self.architecture: dict[str, Any] = {
            "n_cells": n_cells,
            "history": history,
            "size": size,
            **shape,
            "noise_std": float(noise_std),
            "readout": readout,
        }
        self.bipolar = _layer(history, shape["bipolar_channels"], shape["bipolar_kernel"], noise_std)
        self.amacrine = _layer(
            shape["bipolar_channels"], shape["amacrine_channels"], shape["amacrine_kernel"], noise_std
        )
        channels = shape["amacrine_channels"]
        self.ganglion = nn.Sequential(
            *(
                [nn.Flatten(), nn.Linear(channels * side * side, n_cells)]
                if readout == "dense"
                else [FactorizedReadout(channels, side, n_cells)]
            ),
            nn.BatchNorm1d(n_cells),
            nn.Softplus(),
        )
        self.register_buffer("stimulus_mean", torch.tensor(float(stimulus_mean)))
        self.register_buffer("stimulus_std", torch.tensor(float(stimulus_std)))
        self.cell_type = ["unknown"] * n_cells if cell_type is None else [str(t) for t in cell_type]
        if len(self.cell_type) != n_cells:
            raise RetinaCodecError(f"{len(self.cell_type)} cell types for {n_cells} cells; expected one per cell")
        position = np.full((n_cells, 2), np.nan) if cell_position is None else np.asarray(cell_position, float)
        if position.shape != (n_cells, 2):
            raise RetinaCodecError(f"cell_position has shape {position.shape}; expected ({n_cells}, 2) [y, x] px")
        self.cell_position = position
        self.frame_rate_hz = float(frame_rate_hz)
        self.name = "untrained"

    @property
    def history(self) -> int:
        """Frames per input window."""
        return self.architecture["history"]

    @property
    def size(self) -> int:
        """Input frame height and width (px)."""
        return self.architecture["size"]

    @property
    def n_cells(self) -> int:
        """Number of ganglion cells."""
        return self.architecture["n_cells"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Firing rates for a batch of normalised stimulus windows.

        Parameters
        ----------
        x : torch.Tensor
            (N, history, size, size) normalised stimulus windows, last channel = current frame.

        Returns
        -------
        torch.Tensor
            (N, n_cells) firing rates in Hz.
        """
        return self.ganglion(self.amacrine(self.bipolar(x)))

    def forward_movie(self, movie: torch.Tensor) -> torch.Tensor:
        """Firing rates at every frame with a full history, computing the first layer by FFT.

        Equal (to float precision) to :meth:`forward` on every window of ``movie``, but the
        bipolar convolution, which dominates the cost, is done as one spatiotemporal convolution
        over the whole movie. Forward hooks on ``bipolar`` do not fire here (its convolution is
        bypassed); use :meth:`forward` on windows for hooked analyses.

        Parameters
        ----------
        movie : torch.Tensor
            (B, T, size, size) normalised contiguous frames, T >= history.

        Returns
        -------
        torch.Tensor
            (B, T - history + 1, n_cells) rates in Hz; index ``t`` is the window ending at frame
            ``t + history - 1``.

        Notes
        -----
        The bipolar convolution is :func:`movie_convolution`.
        """
        if movie.ndim != 4 or movie.shape[-2:] != (self.size, self.size) or movie.shape[1] < self.history:
            raise RetinaCodecError(
                f"movie has shape {tuple(movie.shape)}; expected (batch, time >= {self.history}, "
                f"{self.size}, {self.size})"
            )
        conv = cast(nn.Conv2d, self.bipolar[0])
        drive = movie_convolution(movie, conv.weight, conv.bias)
        n_batch, n_windows = drive.shape[:2]
        drive = drive.reshape(n_batch * n_windows, *drive.shape[2:])
        hidden = self.bipolar[1:](drive)
        rates = self.ganglion(self.amacrine(hidden))
        return rates.reshape(n_batch, n_windows, self.n_cells)

    def config(self) -> dict[str, Any]:
        """Architecture and metadata as plain types (str, int, float, lists), for checkpoints.

        Returns
        -------
        dict
            ``architecture`` (constructor shape arguments), ``cell_type``, ``cell_position``
            ([y, x] px per cell, NaN written as None), ``frame_rate_hz``, ``name``.
        """
        position = [[None if np.isnan(v) else float(v) for v in row] for row in self.cell_position]
        return {
            "architecture": dict(self.architecture),
            "cell_type": list(self.cell_type),
            "cell_position": position,
            "frame_rate_hz": self.frame_rate_hz,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RetinaCNN:
        """Build an (untrained) network from :meth:`config`'s mapping.

        Raises
        ------
        RetinaCodecError
            If the mapping lacks a key or holds an unknown architecture argument.
        """
        try:
            architecture = {"readout": "dense", **config["architecture"]}  # older checkpoints: dense
            unknown = sorted(set(architecture) - set(ARCHITECTURE_KEYS))
            if unknown:
                raise RetinaCodecError(
                    f"unknown architecture arguments {unknown}; expected some of {list(ARCHITECTURE_KEYS)}"
                )
            position = np.array(
                [[np.nan if v is None else v for v in row] for row in config["cell_position"]], dtype=float
            )
            model = cls(
                **architecture,
                cell_type=config["cell_type"],
                cell_position=position.reshape(-1, 2),
                frame_rate_hz=config["frame_rate_hz"],
            )
        except (KeyError, TypeError) as exc:
            raise RetinaCodecError(
                f"model configuration is incomplete or malformed ({exc!r}); expected the keys "
                f"architecture, cell_type, cell_position, frame_rate_hz"
            ) from None
        model.name = str(config.get("name", "untrained"))
        return model

    def set_normalisation(self: _Normalised, mean: float, std: float) -> None:
        """Store the stimulus normalisation (contrast mean and standard deviation)."""
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise RetinaCodecError(f"normalisation mean={mean!r}, std={std!r}; expected finite, std > 0")
        self.stimulus_mean.fill_(float(mean))
        self.stimulus_std.fill_(float(std))

    def readout_channel_norms(self) -> torch.Tensor:
        """How strongly each ganglion cell reads each amacrine channel.

        Returns
        -------
        torch.Tensor
            (cell, channel), differentiable: the L2 norm of the cell's dense readout weights over
            the channel's pixels, or for a factorized readout :math:`|w_{kc}|\\, \\|m_k\\|_2`
            (feature weight times the norm of the cell's mask).
        """
        channels = self.architecture["amacrine_channels"]
        readout = self.ganglion[0]
        if isinstance(readout, FactorizedReadout):
            return readout.features.abs() * readout.mask.flatten(1).norm(dim=1, keepdim=True)
        return cast(nn.Linear, self.ganglion[1]).weight.reshape(self.n_cells, channels, -1).norm(dim=2)

    def amacrine_input_norms(self) -> torch.Tensor:
        """How strongly each amacrine channel pools each bipolar channel.

        Returns
        -------
        torch.Tensor
            (amacrine channel, bipolar channel), differentiable: the L2 norm of the amacrine
            convolution's kernel on that input channel.
        """
        return cast(nn.Conv2d, self.amacrine[0]).weight.flatten(2).norm(dim=2)
