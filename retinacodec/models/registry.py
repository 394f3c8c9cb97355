"""Loading trained retina CNNs and running them on labeled stimuli.

``load`` turns a name or a path into a model in eval mode, ``windows`` turns a stimulus into the
model's inputs (a strided view, no copy) and ``predict`` returns labeled firing rates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from .._progress import progress_bar
from ..device import device_for, evaluating, resolve_device
from ..errors import RetinaCodecError
from ..io.cf import DIMENSIONLESS, RATE_UNITS, TIME
from ..io.checkpoints import load_checkpoint
from ..shipped import MODELS_DIR
from ..stimuli.base import validate_stimulus
from .ln import LNModel
from .retina_cnn import RetinaCNN

RetinaModel = RetinaCNN | LNModel
"""A model of retinal cells: the CNN or the LN baseline (same interface)."""

CHECKPOINT_NAME = "model.pt"
"""File name of a model's weights inside its folder."""
FRAME_RATE_TOLERANCE = 1e-3
"""Relative difference accepted between a stimulus's and a model's frame rate (a rig's measured
frame times give a rate a few parts per million off its nominal one)."""
VIRTUAL_RETINA_NAME = "virtual_retina.json"
"""File name of the virtual-retina parameters a model was trained on, inside its folder."""


def checkpoint_path(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint file a model name or path refers to.

    Parameters
    ----------
    name_or_path : str or path-like
        A shipped model name (a folder of ``models/``, e.g. ``"default"``), a model folder
        holding ``model.pt``, or a checkpoint file.

    Returns
    -------
    pathlib.Path
        Path of the checkpoint file (existence is checked by the loader).
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    if not path.exists() and os.sep not in text and "/" not in text and not text.endswith(".pt"):
        shipped = sorted(p.name for p in MODELS_DIR.glob("*/") if (p / CHECKPOINT_NAME).is_file())
        if text not in shipped:
            raise RetinaCodecError(
                f"unknown model {text!r}; expected a checkpoint path, a model folder, or a shipped "
                f"name ({', '.join(shipped) or f'none found in {MODELS_DIR}'})"
            )
        path = MODELS_DIR / text
    return path / CHECKPOINT_NAME if path.is_dir() else path


def model_from_checkpoint(payload: dict[str, Any]) -> RetinaModel:
    """Rebuild a :class:`RetinaCNN` or, for a config of ``kind = "ln"``, an :class:`LNModel`, with
    its weights, from a checkpoint payload (see ``io.checkpoints``).

    Raises
    ------
    RetinaCodecError
        If the payload lacks ``config`` or ``state_dict``, or they do not fit each other.
    """
    if "config" not in payload or "state_dict" not in payload:
        raise RetinaCodecError("checkpoint lacks 'config' or 'state_dict'; expected a retina CNN checkpoint")
    kind = LNModel if payload["config"].get("kind") == "ln" else RetinaCNN
    model = kind.from_config(payload["config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise RetinaCodecError(f"checkpoint weights do not fit its architecture ({str(exc).splitlines()[0]})") from None
    return model


def load(name_or_path: str | os.PathLike = "default", device: str | torch.device = "cpu") -> RetinaModel:
    """Load a trained retina CNN (or LN model) in eval mode.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"default"`` (the shipped model, ``models/default/`` in the repository root), another
        shipped name, a model folder, or a checkpoint file.
    device : str or torch.device
        ``"cpu"`` (default), ``"cuda"``, or ``"auto"`` (CUDA when available).

    Returns
    -------
    RetinaCNN or LNModel
        The model in eval mode, with metadata ``name``, ``cell_type``, ``cell_position`` (px),
        ``frame_rate_hz``, ``history``, the stimulus normalisation buffers, and ``checkpoint``
        (the file read). When the model's folder holds ``virtual_retina.json`` (the shipped
        default does), ``model.virtual_retina`` is the :class:`VirtualRetina` it was trained on;
        otherwise None.

    Raises
    ------
    RetinaCodecError
        If the name is unknown or the checkpoint is missing or corrupt.
    """
    path = checkpoint_path(name_or_path)
    device = resolve_device(device)
    model = model_from_checkpoint(load_checkpoint(path))
    model.checkpoint = str(path)
    model.virtual_retina = None
    parameters = path.parent / VIRTUAL_RETINA_NAME
    if parameters.is_file():
        from .virtual_retina import VirtualRetina

        try:
            mapping = json.loads(parameters.read_text())
        except (OSError, ValueError) as exc:
            raise RetinaCodecError(
                f"cannot read virtual-retina parameters {parameters} ({exc}); expected JSON"
            ) from None
        model.virtual_retina = VirtualRetina.from_dict(mapping)
    return model.to(device).eval()


def frame_shape(model: nn.Module) -> tuple[int, int]:
    """A retina model's frame (height, width) in px: its ``size``, one int for square frames or a
    (height, width) pair."""
    size = cast(Any, model).size
    return (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))


def _check_stimulus(model: RetinaModel, stimulus: xr.DataArray) -> xr.DataArray:
    if not hasattr(model, "history"):
        raise RetinaCodecError(
            f"{type(model).__name__} is not a retina model (it has no 'history' of frames); expected a model from "
            "rc.models.load, or an openretina model through rc.models.from_openretina(model, frame_rate_hz=...)"
        )
    stimulus = validate_stimulus(stimulus, min_frames=model.history)
    shape = (stimulus.sizes["y"], stimulus.sizes["x"])
    expected = frame_shape(model)
    if shape != expected:
        raise RetinaCodecError(
            f"stimulus frames are {shape[0]} x {shape[1]} px; model {model.name!r} expects "
            f"{expected[0]} x {expected[1]} px"
        )
    rate = float(stimulus.attrs["frame_rate_hz"])
    if not np.isclose(rate, model.frame_rate_hz, rtol=FRAME_RATE_TOLERANCE):
        raise RetinaCodecError(
            f"stimulus frame rate is {rate:g} Hz; model {model.name!r} was trained at "
            f"{model.frame_rate_hz:g} Hz (resample the stimulus)"
        )
    return stimulus


def _normalised_frames(model: RetinaModel, stimulus: xr.DataArray) -> torch.Tensor:
    """(time, y, x) float32 tensor of ``(stimulus - mean) / std`` on the model's device."""
    device = model.stimulus_mean.device
    frames = torch.as_tensor(np.asarray(stimulus.values, dtype=np.float32), device=device)
    return (frames - model.stimulus_mean.float()) / model.stimulus_std.float()


def windows(model: nn.Module, stimulus: xr.DataArray) -> tuple[torch.Tensor, np.ndarray]:
    """The model's input windows for every frame of ``stimulus`` that has a full history.

    Parameters
    ----------
    model : RetinaCNN
        Supplies ``history``, the frame size (``size``, see :func:`frame_shape`), the frame rate
        and the normalisation.
    stimulus : xarray.DataArray
        (time, y, x) contrast at the model's frame rate and frame size.

    Returns
    -------
    inputs : torch.Tensor
        float32 (n_windows, history, y, x), n_windows = time - history + 1, normalised as in
        training; window ``i`` holds frames ``i .. i + history - 1`` in order, so its last channel
        is the frame at ``times[i]``. A strided view of one normalised copy of the stimulus (not
        contiguous; no per-window copy): slice it into batches rather than calling ``.contiguous()``
        on the whole.
    times : numpy.ndarray
        (n_windows,) the stimulus's time coordinate (s) of each window's last frame.

    Raises
    ------
    RetinaCodecError
        For a stimulus of the wrong frame size or rate, fewer frames than ``history``, or
        non-finite values.
    """
    retina = cast(RetinaModel, model)  # any module with a retina model's attributes serves
    stimulus = _check_stimulus(retina, stimulus)
    frames = _normalised_frames(retina, stimulus)
    inputs = frames.unfold(0, retina.history, 1).permute(0, 3, 1, 2)
    return inputs, np.asarray(stimulus["time"].values[retina.history - 1 :])


def predict(
    model: nn.Module,
    stimulus: xr.DataArray,
    batch_size: int = 256,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> xr.DataArray:
    """Firing rates of the model's cells for a stimulus.

    Parameters
    ----------
    model : RetinaCNN or LNModel
        A trained model (see :func:`load`); run in eval mode (running batch-norm statistics, no
        noise) without gradients; its previous mode is restored afterwards.
    stimulus : xarray.DataArray
        (time, y, x) contrast at the model's frame rate and frame size, at least ``history``
        frames.
    batch_size : int
        Windows per forward pass (memory grows linearly with it; a few hundred is fastest on CPU).
    progress : bool
        Show a progress bar over batches.
    device : str or torch.device, optional
        Run on this device (``"cpu"``, ``"cuda"``, ``"auto"``; the model is moved there for the
        call and back after); by default where the model is.

    Returns
    -------
    xarray.DataArray
        ``rate`` in Hz, dims (time, cell), time = the stimulus's own time coords from frame
        ``history - 1`` on (the first frame with a full history); coords cell (index),
        cell_type, y, x (receptive-field centre, px); attrs units, model, checkpoint,
        package version.

    Notes
    -----
    Each batch is a contiguous stretch of ``batch_size + history - 1`` frames passed through
    :meth:`RetinaCNN.forward_movie`, which equals :meth:`RetinaCNN.forward` on its windows.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise RetinaCodecError(f"batch_size is {batch_size!r}; expected a positive integer")
    retina = cast(RetinaModel, model)  # any module with a retina model's attributes and forward_movie serves
    stimulus = _check_stimulus(retina, stimulus)
    with evaluating(retina, device_for(retina, device)), torch.no_grad():
        frames = _normalised_frames(retina, stimulus)
        n_windows = frames.shape[0] - retina.history + 1
        starts = range(0, n_windows, int(batch_size))
        rates = (
            torch.cat(
                [
                    retina.forward_movie(frames[None, start : start + batch_size + retina.history - 1])[0]
                    for start in progress_bar(starts, desc="predict", unit="batch", progress=progress)
                ]
            )
            .cpu()
            .numpy()
        )
    return rates_to_dataarray(retina, rates, stimulus["time"].values[retina.history - 1 :])


def rates_to_dataarray(model: RetinaModel, rates: np.ndarray, times: np.ndarray) -> xr.DataArray:
    """Label a (time, cell) array of the model's rates (Hz) with its cells' metadata."""
    rate = xr.DataArray(
        np.asarray(rates, dtype=np.float32),
        dims=("time", "cell"),
        coords={
            "time": np.asarray(times),
            "cell": np.arange(model.n_cells),
            "cell_type": ("cell", list(model.cell_type)),
            "y": ("cell", model.cell_position[:, 0]),
            "x": ("cell", model.cell_position[:, 1]),
        },
        name="rate",
        attrs={
            "units": RATE_UNITS,
            "model": model.name,
            "checkpoint": str(getattr(model, "checkpoint", "")),
            "retinacodec_version": __version__,
        },
    )
    rate["time"].attrs.update(TIME)
    rate["y"].attrs.update(units=DIMENSIONLESS, long_name="receptive-field centre row (pixel)")
    rate["x"].attrs.update(units=DIMENSIONLESS, long_name="receptive-field centre column (pixel)")
    return rate
