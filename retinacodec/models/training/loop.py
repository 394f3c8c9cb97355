"""The training loop: Poisson loss, Adam, regularisation, early stopping, resumable atomic checkpoints."""
from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.nn.utils import parametrize
from tqdm.auto import tqdm

from ... import __version__
from ...device import evaluating, resolve_device
from ...errors import RetinaCodecError
from ...io.checkpoints import load_checkpoint, save_checkpoint
from ..registry import CHECKPOINT_NAME
from ..retina_cnn import ARCHITECTURE_KEYS, RetinaCNN
from .data import (_as_list, _cell_metadata, _check_pairs, _fingerprint, _movie_batch, _Recording,
                   _recordings, _segments)
from .settings import TrainingSettings

LAST_CHECKPOINT_NAME = "last.pt"
"""File name of the resumable end-of-epoch checkpoint (weights, optimizer, RNG states)."""


class _Envelope(torch.nn.Module):
    """Parametrisation of the readout during training: free weights times a fixed envelope."""

    def __init__(self, envelope: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("envelope", envelope)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.envelope


def _readout_envelope(model: RetinaCNN, envelope_px: float) -> torch.Tensor:
    """(n_cells, channels * side * side) Gaussian of ``envelope_px`` around each cell's position
    on the readout grid (ones for a cell without position)."""
    architecture = model.architecture
    margin = (architecture["bipolar_kernel"] - 1) / 2 + (architecture["amacrine_kernel"] - 1) / 2
    side = model.size - architecture["bipolar_kernel"] - architecture["amacrine_kernel"] + 2
    centres = torch.arange(side, dtype=torch.float32) + margin  # input pixel under each readout pixel
    position = torch.as_tensor(model.cell_position, dtype=torch.float32)
    squared = ((centres[None, :, None] - position[:, 0, None, None]) ** 2
               + (centres[None, None, :] - position[:, 1, None, None]) ** 2)
    envelope = torch.exp(-squared / (2 * envelope_px**2))
    envelope = torch.where(torch.isnan(envelope), torch.ones_like(envelope), envelope)
    channels = architecture["amacrine_channels"]
    return envelope[:, None].expand(-1, channels, -1, -1).reshape(model.n_cells, -1).contiguous()


def _initialise_readout(model: RetinaCNN, recordings: list[_Recording]) -> None:
    """Start the ganglion batch norm so that initial rates have the targets' mean and spread.

    With standardised readout input :math:`z`, the rate is :math:`\\mathrm{softplus}(\\gamma z +
    \\beta)`; :math:`\\beta = \\mathrm{softplus}^{-1}(\\bar y)` puts the mean rate at the target
    mean and :math:`\\gamma = s_y / (2\\sigma(\\beta))` (the softplus slope at :math:`\\beta` is
    the logistic :math:`\\sigma`) gives half the targets' standard deviation.
    """
    targets = torch.cat([rec.rates[:rec.n_train] for rec in recordings])
    mean = targets.mean(0).clamp_min(1e-3)
    spread = targets.std(0).clamp_min(1e-3)
    beta = mean + torch.log(-torch.expm1(-mean))
    norm = model.ganglion[2]
    with torch.no_grad():
        norm.bias.copy_(beta)
        norm.weight.copy_(spread / (2 * torch.sigmoid(beta)))


def _evaluate(
    model: RetinaCNN, recordings: list[_Recording], loss_fn, chunk: int = 1000
) -> tuple[float, float]:
    """Validation Poisson loss and mean (over cells) Pearson r, in eval mode."""
    predicted, observed = [], []
    with evaluating(model, recordings[0].frames.device), torch.no_grad():
        for rec in recordings:
            for start in range(rec.validation_start, rec.rates.shape[0], chunk):
                stop = min(start + chunk, rec.rates.shape[0])
                movie = rec.frames[start:stop + model.history - 1]
                predicted.append(model.forward_movie(movie[None])[0])
                observed.append(rec.rates[start:stop])
    pred, true = torch.cat(predicted).double(), torch.cat(observed).double()
    loss = float(loss_fn(pred, true))
    pred, true = pred - pred.mean(0), true - true.mean(0)
    r = (pred * true).sum(0) / torch.sqrt((pred**2).sum(0) * (true**2).sum(0)).clamp_min(1e-12)
    return loss, float(r.mean())


def train_model(
    stimulus: xr.DataArray | Sequence[xr.DataArray],
    responses: xr.DataArray | Sequence[xr.DataArray],
    *,
    architecture: dict[str, Any] | None = None,
    settings: TrainingSettings | None = None,
    output_dir: str | Path | None = None,
    resume: bool = True,
    name: str = "retina_cnn",
    metadata: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[RetinaCNN, dict[str, Any]]:
    """Fit a retina CNN to firing rates with a Poisson loss.

    Parameters
    ----------
    stimulus : xarray.DataArray or sequence of them
        (time, y, x) contrast movies, all at the same frame rate and size; each is one contiguous
        recording (windows never span two).
    responses : xarray.DataArray or sequence of them
        (time, cell) target firing rates in Hz, one per stimulus, one row per frame. Optional cell
        coords ``cell_type``, ``y``, ``x`` become the model's metadata.
    architecture : dict, optional
        :class:`RetinaCNN` shape arguments (``history``, ``bipolar_channels``, ...); ``n_cells``
        and ``size`` come from the data.
    settings : TrainingSettings, optional
        Optimisation settings (defaults if None).
    output_dir : str or path, optional
        Where ``last.pt`` (resumable, written atomically after every epoch) and ``model.pt`` (the
        best weights, small) go; None trains in memory only.
    resume : bool
        Continue from ``output_dir/last.pt`` when it exists (same data, architecture and
        settings except ``epochs`` and ``patience``); False starts afresh.
    name : str
        Model name stored in the checkpoint.
    metadata : dict, optional
        Plain-typed provenance stored in ``model.pt`` under ``provenance`` (e.g. the recipe).
    device : str or torch.device
        ``"cpu"`` (default), ``"cuda"`` or ``"auto"``.
    progress : bool
        Show progress bars over epochs and batches.

    Returns
    -------
    model : RetinaCNN
        The weights with the lowest validation loss, in eval mode.
    log : dict
        Per-epoch lists ``train_loss``, ``validation_loss``, ``validation_r`` (mean Pearson r over
        cells on the held-out windows), ``epoch_seconds``; ``best_epoch`` (1-based),
        ``stopped_early``, ``resumed_from_epoch`` (0 for a fresh run).

    Raises
    ------
    RetinaCodecError
        For mismatched or invalid data, bad settings, or a checkpoint that belongs to another run.

    Notes
    -----
    The loss is the Poisson negative log-likelihood of the target rate :math:`y` under the
    predicted rate :math:`\\hat y` up to terms without :math:`\\hat y`,
    :math:`\\ell = \\hat y - y \\log(\\hat y + \\epsilon)` (``torch.nn.PoissonNLLLoss(log_input=False)``),
    averaged over windows and cells. Windows ending in the last ``validation_fraction`` of each
    recording are held out (after a gap of ``history - 1`` frames, so no frame is shared); the
    stimulus is normalised with the training frames' mean and standard deviation. Mini-batches
    are ``batch_segments`` contiguous runs of ``segment_windows`` windows whose first layer is
    computed by FFT (:meth:`RetinaCNN.forward_movie`). The run is deterministic for a given seed
    and device, and resuming from an epoch's checkpoint gives the same result as not stopping.
    """
    settings = settings or TrainingSettings()
    architecture = dict(architecture or {})
    unknown = sorted(set(architecture) - set(ARCHITECTURE_KEYS) | set(architecture) & {"n_cells", "size"})
    if unknown:
        raise RetinaCodecError(
            f"architecture arguments {unknown} are unknown or set by the data; expected some of "
            f"{[k for k in ARCHITECTURE_KEYS if k not in ('n_cells', 'size')]}"
        )
    history = int(architecture.get("history", 40))
    stimuli, responses = _check_pairs(_as_list(stimulus), _as_list(responses), history)
    device = resolve_device(device)
    size = stimuli[0].sizes["y"]
    if stimuli[0].sizes["x"] != size:
        raise RetinaCodecError(f"frames are {size}x{stimuli[0].sizes['x']} px; expected square frames")
    cell_type, position = _cell_metadata(responses[0])
    loss_fn = torch.nn.PoissonNLLLoss(log_input=False)
    identity = {
        "architecture": {**architecture, "n_cells": responses[0].sizes["cell"], "size": size},
        "settings": {key: value for key, value in dataclasses.asdict(settings).items()
                     if key not in ("epochs", "patience")},
        "data": _fingerprint(stimuli, responses),
    }
    last_path = Path(output_dir) / LAST_CHECKPOINT_NAME if output_dir is not None else None

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed)
        model = RetinaCNN(**identity["architecture"], cell_type=cell_type, cell_position=position,
                          frame_rate_hz=float(stimuli[0].attrs["frame_rate_hz"])).to(device)
        model.name = name
        recordings = _recordings(stimuli, responses, model, settings, device)
        _initialise_readout(model, recordings)
        if np.isfinite(settings.readout_envelope_px):
            envelope = _readout_envelope(model, settings.readout_envelope_px).to(device)
            parametrize.register_parametrization(model.ganglion[1], "weight", _Envelope(envelope))
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate,
                                     weight_decay=settings.weight_decay)
        sampler = torch.Generator().manual_seed(settings.seed)
        log: dict[str, Any] = {"train_loss": [], "validation_loss": [], "validation_r": [],
                               "epoch_seconds": [], "best_epoch": 0, "stopped_early": False,
                               "resumed_from_epoch": 0}
        best_loss, best_state = float("inf"), copy.deepcopy(model.state_dict())

        if resume and last_path is not None and last_path.is_file():
            state = load_checkpoint(last_path, map_location=device)
            if state.get("identity") != identity:
                raise RetinaCodecError(
                    f"{last_path} belongs to a run with other data, architecture or settings; "
                    f"expected the same run (use another output folder or resume=False)"
                )
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer_state"])
            best_state, best_loss, log = state["best_state_dict"], state["best_validation_loss"], state["log"]
            log["resumed_from_epoch"] = state["epoch"]
            torch.set_rng_state(state["rng"]["torch"])
            sampler.set_state(state["rng"]["sampler"])
            if device.type == "cuda" and "cuda" in state["rng"]:
                torch.cuda.set_rng_state(state["rng"]["cuda"], device)

        model.train()
        first_epoch = len(log["train_loss"])
        epochs = tqdm(range(first_epoch, settings.epochs), desc="train", unit="epoch",
                      initial=first_epoch, total=settings.epochs, disable=not progress)
        for epoch in epochs:
            if log["stopped_early"] or epoch - log["best_epoch"] >= settings.patience:
                log["stopped_early"] = True
                break
            started = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate * settings.learning_rate_decay**epoch
            pieces = _segments(recordings, settings.segment_windows, sampler)
            batches = range(0, len(pieces), settings.batch_segments)
            total = 0.0
            for start in tqdm(batches, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                              disable=not progress):
                movies, targets = _movie_batch(recordings, pieces[start:start + settings.batch_segments],
                                               settings.segment_windows, model.history)
                loss = loss_fn(model.forward_movie(movies), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(pieces[start:start + settings.batch_segments])
            validation_loss, validation_r = _evaluate(model, recordings, loss_fn)
            log["train_loss"].append(total / len(pieces))
            log["validation_loss"].append(validation_loss)
            log["validation_r"].append(validation_r)
            log["epoch_seconds"].append(time.perf_counter() - started)
            if validation_loss < best_loss:
                best_loss, best_state = validation_loss, copy.deepcopy(model.state_dict())
                log["best_epoch"] = epoch + 1
            epochs.set_postfix(val_loss=f"{validation_loss:.4g}", val_r=f"{validation_r:.3f}")
            if last_path is not None:
                rng = {"torch": torch.get_rng_state(), "sampler": sampler.get_state()}
                if device.type == "cuda":
                    rng["cuda"] = torch.cuda.get_rng_state(device)
                save_checkpoint({
                    "config": model.config(), "state_dict": model.state_dict(),
                    "optimizer_state": optimizer.state_dict(), "epoch": epoch + 1, "log": log,
                    "best_state_dict": best_state, "best_validation_loss": best_loss, "rng": rng,
                    "identity": identity, "retinacodec_version": __version__,
                }, last_path)

    model.load_state_dict(best_state)
    if parametrize.is_parametrized(model.ganglion[1]):
        parametrize.remove_parametrizations(model.ganglion[1], "weight", leave_parametrized=True)
    model.eval()
    if output_dir is not None:
        save_checkpoint({
            "config": model.config(), "state_dict": model.state_dict(), "log": log,
            "settings": dataclasses.asdict(settings), "provenance": dict(metadata or {}),
            "retinacodec_version": __version__,
        }, Path(output_dir) / CHECKPOINT_NAME)
    return model, log
