"""openretina's core-readout models as retina models: :func:`from_openretina`.

An openretina core-readout model takes movies (batch, colour channel, time, height, width),
z-scored as in its training, and returns (batch, time, neurons) for one recording session (its
``data_key``). :class:`OpenRetinaModel` puts it behind the interface of this package's retina
models: windows (N, history, y, x) of a stimulus in contrast in, one rate per cell (N, cells) out,
with ``history``, ``size`` (height, width), ``frame_rate_hz``, the stimulus normalisation,
``cell_type`` and ``cell_position``. Everything that takes a retina model (``rc.contributions`` on
a stimulus, ``rc.irf``, contribution maps, control) then runs on it, and its layers keep their
openretina names (``"core.features.layer0"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..device import evaluating
from ..errors import RetinaCodecError
from ..targets import SESSION_KEYWORD, _check_time, read_time

PROBE_FRAMES = 64
"""Frames of the zero movie that measures how many frames the model needs for one output bin,
when its ``in_shape`` does not name more."""


class OpenRetinaModel(nn.Module):
    """An openretina core-readout model as a retina model; build it with :func:`from_openretina`.

    Attributes
    ----------
    openretina : torch.nn.Module
        The wrapped model (not copied). Its children are registered on this module too, so layer
        names are openretina's own (``"core.features.layer0"``, ``"readout.session_1"``).
    history : int
        Frames per input window.
    size : tuple of int
        Frame (height, width) in px.
    frame_rate_hz : float
        The model's frame rate (Hz).
    data_key : str
        The session whose cells are the outputs (any other one through ``forward(x, data_key=)``).
    time_bin : int or {"last", "mean", "sum"}
        The time bin of the model's output (batch, time, neurons) read as each cell's rate, as
        :class:`~retinacodec.targets.Cell` reads it.
    contrast_gain : torch.Tensor
        (channel,) model input per unit contrast in each colour channel (a buffer).
    stimulus_mean, stimulus_std : torch.Tensor
        0 and 1 (buffers): windows hold contrast, scaled into the model's input by ``contrast_gain``.
    cell_type : list of str
        One per cell of ``data_key``.
    cell_position : numpy.ndarray
        (cell, 2) receptive-field centres (y, x) in px; NaN where unknown.
    name : str
        Name for results' provenance.
    """

    contrast_gain: torch.Tensor
    stimulus_mean: torch.Tensor
    stimulus_std: torch.Tensor

    def __init__(
        self,
        model: nn.Module,
        *,
        frame_rate_hz: float,
        data_key: str,
        history: int,
        size: tuple[int, int],
        time_bin: int | str,
        contrast_gain: torch.Tensor,
        cell_type: list[str],
        cell_position: np.ndarray,
        name: str,
    ):
        super().__init__()
        for child_name, child in model.named_children():
            self.add_module(child_name, child)
        self.openretina = model
        self.frame_rate_hz = float(frame_rate_hz)
        self.data_key = data_key
        self.history = int(history)
        self.size = size
        self.time_bin = time_bin
        self.register_buffer("contrast_gain", contrast_gain.float())
        self.register_buffer("stimulus_mean", torch.tensor(0.0))
        self.register_buffer("stimulus_std", torch.tensor(1.0))
        self.cell_type = cell_type
        self.cell_position = cell_position
        self.name = name

    @property
    def n_cells(self) -> int:
        """Cells of the session ``data_key``."""
        return len(self.cell_type)

    def forward(self, x: torch.Tensor, data_key: str | None = None) -> torch.Tensor:
        """Rates (N, cells) for windows ``x`` (N, history, y, x) of contrast.

        Each window becomes a movie (N, channel, history, y, x), the same contrast in every colour
        channel times that channel's ``contrast_gain``; ``data_key`` (default :attr:`data_key`)
        picks the session; the output's time bin :attr:`time_bin` is returned.
        """
        gain = self.contrast_gain.to(x.dtype).view(1, -1, 1, 1, 1)
        key = data_key if isinstance(data_key, str) else self.data_key  # None, or torch.fx's stand-in as it traces
        output = self.openretina(x.unsqueeze(1) * gain, **{SESSION_KEYWORD: key})
        return read_time(output, self.time_bin)

    def forward_movie(self, frames: torch.Tensor) -> torch.Tensor:
        """Rates (1, time - history + 1, cells) for a movie ``frames`` (1, time, y, x) of contrast:
        :meth:`forward` on each of its windows."""
        return self(frames[0].unfold(0, self.history, 1).permute(0, 3, 1, 2))[None]


def _sessions(model: nn.Module) -> list[str]:
    """The model's session names: its readout's keys, else its ``n_neurons_dict``."""
    readout = getattr(model, "readout", None)
    if isinstance(readout, nn.ModuleDict):
        return sorted(readout.keys())
    return sorted(_info(model).get("n_neurons_dict") or {})


def _info(model: nn.Module) -> dict[str, Any]:
    info = getattr(model, "data_info", None)
    return dict(info) if isinstance(info, dict) else {}


def _session(model: nn.Module, data_key: str | None) -> str:
    sessions = _sessions(model)
    if data_key is None and len(sessions) == 1:
        return sessions[0]
    if data_key is None or (sessions and data_key not in sessions):
        given = "no data_key" if data_key is None else f"data_key {data_key!r}"
        raise RetinaCodecError(
            f"{given} for a model of sessions {', '.join(sessions) or '(none found)'}; expected one of them "
            "(from_openretina(model, data_key=...))"
        )
    return data_key


def _in_shape(model: nn.Module) -> tuple[int, ...]:
    """(channel, [time,] height, width) from the model's hyperparameters or data info."""
    hparams = getattr(model, "hparams", None) or {}
    shape = hparams.get("in_shape") or _info(model).get("input_shape")
    if shape is None or len(shape) not in (3, 4):
        raise RetinaCodecError(
            f"{type(model).__name__} names no input shape (hparams in_shape or data_info input_shape); expected an "
            "openretina core-readout model"
        )
    return tuple(int(s) for s in shape)


def _probe(model: nn.Module, shape: tuple[int, ...], data_key: str) -> tuple[int, int]:
    """The fewest frames that give one output time bin (the model's temporal reach) and the number
    of cells, from the output for a zero movie (the model in eval mode for the call)."""
    frames = max(PROBE_FRAMES, shape[1] if len(shape) == 4 else 0)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with evaluating(model, device) as dtype, torch.no_grad():
        probe = torch.zeros(1, shape[0], frames, shape[-2], shape[-1], dtype=dtype, device=device)
        output = model(probe, **{SESSION_KEYWORD: data_key})
    if not isinstance(output, torch.Tensor) or output.ndim != 3 or not 0 < output.shape[1] <= frames:
        shape_out = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise RetinaCodecError(
            f"{type(model).__name__} returned {shape_out} for a movie of {frames} frames; expected (batch, time, "
            "neurons) with at least one time bin"
        )
    return frames - output.shape[1] + 1, output.shape[2]


def _gain(contrast_gain: float | Sequence[float] | None, model: nn.Module, n_channels: int) -> torch.Tensor:
    """(channel,) model input per unit contrast: given, else stim_mean / stim_std of the data info."""
    if contrast_gain is None:
        info = _info(model)
        mean: Any = info.get("stim_mean")
        std: Any = info.get("stim_std")
        try:
            contrast_gain = float(mean) / float(std) if float(mean) > 0 and float(std) > 0 else 1.0
        except (TypeError, ValueError):  # absent, or not one number
            contrast_gain = 1.0
    try:
        gain = np.broadcast_to(np.asarray(contrast_gain, dtype=float), (n_channels,))
    except (TypeError, ValueError):
        gain = np.full(n_channels, np.nan)
    if np.ndim(contrast_gain) > 1 or not np.isfinite(gain).all():
        raise RetinaCodecError(
            f"contrast_gain is {contrast_gain!r}; expected one finite number or one per colour channel ({n_channels})"
        )
    return torch.as_tensor(gain.copy(), dtype=torch.float32)


def _cell_types(cell_types: Sequence[str] | None, model: nn.Module, data_key: str, n_cells: int) -> list[str]:
    """Given types, else the session's ``group_assignment`` (openretina's cell-type groups), else "unknown"."""
    if cell_types is None:
        kwargs = (_info(model).get("sessions_kwargs") or {}).get(data_key) or {}
        groups = kwargs.get("group_assignment")
        if groups is None:
            return ["unknown"] * n_cells
        cell_types = [str(int(g)) if float(g).is_integer() else str(g) for g in np.asarray(groups).ravel()]
    types = [str(t) for t in cell_types]
    if len(types) != n_cells:
        raise RetinaCodecError(
            f"{len(types)} cell types for the {n_cells} cells of session {data_key!r}; expected one per cell"
        )
    return types


def _positions(cell_positions: np.ndarray | Sequence | None, n_cells: int) -> np.ndarray:
    if cell_positions is None:
        return np.full((n_cells, 2), np.nan)
    positions = np.asarray(cell_positions, dtype=float)
    if positions.shape != (n_cells, 2):
        raise RetinaCodecError(
            f"cell_positions has shape {positions.shape}; expected (cells, 2) = ({n_cells}, 2), (y, x) in px"
        )
    return positions


def from_openretina(
    model: nn.Module,
    *,
    frame_rate_hz: float,
    data_key: str | None = None,
    history: int | None = None,
    time_bin: int | str = "last",
    contrast_gain: float | Sequence[float] | None = None,
    cell_types: Sequence[str] | None = None,
    cell_positions: np.ndarray | Sequence | None = None,
    name: str | None = None,
) -> OpenRetinaModel:
    """An openretina core-readout model as a retina model (see :class:`OpenRetinaModel`).

    Parameters
    ----------
    model : torch.nn.Module
        An openretina core-readout model (``UnifiedCoreReadout``, ``CoreReadout``, or any module
        with openretina's interface: ``model(movie, data_key=...)`` with movie (batch, channel,
        time, height, width) -> (batch, time, neurons), and ``hparams["in_shape"]`` or
        ``data_info["input_shape"]``). Put in eval mode by the analyses.
    frame_rate_hz : float
        The frame rate of the model's training movies (Hz); stimuli must come at this rate.
    data_key : str, optional
        The session whose cells are the outputs; needed when the model has several.
    history : int, optional
        Frames per window; by default the fewest that give one output time bin (the model's
        temporal reach, measured on a zero movie). A longer history gives the model more bins.
    time_bin : int or {"last", "mean", "sum"}
        Which time bin of the output is each cell's rate (an index, negative from the end), or the
        mean or sum over bins.
    contrast_gain : float or sequence of float, optional
        Model input per unit contrast, one value or one per colour channel: a greyscale stimulus
        (contrast ``c``) enters channel ``k`` as ``c * contrast_gain[k]``. By default
        ``stim_mean / stim_std`` of the model's ``data_info`` (the z-score of a luminance
        ``stim_mean * (1 + c)``), else 1. A 0 leaves that colour out.
    cell_types : sequence of str, optional
        One per cell; by default the session's ``group_assignment`` in ``data_info``
        ``sessions_kwargs`` (openretina's cell-type groups), else ``"unknown"``.
    cell_positions : array-like, optional
        (cell, 2) receptive-field centres (y, x) in px; NaN by default.
    name : str, optional
        For results' provenance; by default the class name and session.

    Returns
    -------
    OpenRetinaModel
        Input (N, history, height, width) contrast windows, output (N, cells); in the training
        mode of ``model`` (the analyses run it in eval mode and restore the mode after).

    Raises
    ------
    RetinaCodecError
        For an unknown or missing session, a model without an input shape or with outputs that
        are not (batch, time, neurons), a history shorter than the model's reach, or cell types,
        positions or gains of the wrong length.
    """
    if not isinstance(model, nn.Module):
        raise RetinaCodecError(f"model is a {type(model).__name__}; expected an openretina core-readout nn.Module")
    if not (isinstance(frame_rate_hz, (int, float)) and np.isfinite(frame_rate_hz) and frame_rate_hz > 0):
        raise RetinaCodecError(f"frame_rate_hz is {frame_rate_hz!r}; expected a positive number of frames per second")
    time_bin = _check_time(time_bin)
    key = _session(model, data_key)
    shape = _in_shape(model)
    reach, n_cells = _probe(model, shape, key)
    if history is None:
        history = reach
    elif isinstance(history, bool) or not isinstance(history, (int, np.integer)) or history < reach:
        raise RetinaCodecError(f"history is {history!r}; expected an integer of at least {reach} (the model's reach)")
    training = model.training
    return OpenRetinaModel(
        model,
        frame_rate_hz=float(frame_rate_hz),
        data_key=key,
        history=int(history),
        size=(shape[-2], shape[-1]),
        time_bin=time_bin,
        contrast_gain=_gain(contrast_gain, model, shape[0]),
        cell_type=_cell_types(cell_types, model, key, n_cells),
        cell_position=_positions(cell_positions, n_cells),
        name=name or f"{type(model).__name__}[{key}]",
    ).train(training)
