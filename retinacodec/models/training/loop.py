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

from ... import __version__
from ..._progress import progress_bar
from ...device import evaluating, resolve_device
from ...errors import RetinaCodecError
from ...io.checkpoints import load_checkpoint, save_checkpoint
from ...metrics import column_correlation
from ..registry import CHECKPOINT_NAME
from ..retina_cnn import ARCHITECTURE_KEYS, FactorizedReadout, RetinaCNN
from .data import (
    _as_list,
    _cell_metadata,
    _check_pairs,
    _fingerprint,
    _movie_batch,
    _Recording,
    _recordings,
    _segments,
)
from .settings import TrainingSettings

LAST_CHECKPOINT_NAME = "last.pt"
"""File name of the resumable end-of-epoch checkpoint (weights, optimizer, RNG states)."""


class _Envelope(torch.nn.Module):
    """Parametrisation of the readout during training: free weights times a fixed envelope."""

    envelope: torch.Tensor

    def __init__(self, envelope: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("envelope", envelope)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.envelope


class _SpaceTimeRank(torch.nn.Module):
    """Parametrisation of the bipolar kernels during training: each channel's (history, k, k)
    kernel is the sum of ``rank`` outer products of a temporal filter and a spatial kernel."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def forward(self, temporal: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
        """(C, rank, L) temporal and (C, rank, k_y, k_x) spatial factors -> (C, L, k_y, k_x) kernels."""
        return torch.einsum("crl,cryx->clyx", temporal, spatial)

    def right_inverse(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The factors of the best rank-``rank`` approximation of ``weight`` (per channel SVD)."""
        channels, lags, height, width = weight.shape
        u, s, vh = torch.linalg.svd(weight.reshape(channels, lags, height * width), full_matrices=False)
        root = s[:, : self.rank].sqrt()
        temporal = (u[:, :, : self.rank] * root[:, None]).transpose(1, 2)
        spatial = (root[:, :, None] * vh[:, : self.rank]).reshape(channels, -1, height, width)
        return temporal.contiguous(), spatial.contiguous()


def _convolution(stage: torch.nn.Sequential) -> torch.nn.Conv2d:
    """The convolution a stage of the retina CNN (bipolar, amacrine) starts with."""
    conv = stage[0]
    assert isinstance(conv, torch.nn.Conv2d)  # every stage of a RetinaCNN starts with one
    return conv


def _limit_rank(model: RetinaCNN, rank: int) -> None:
    """Constrain the bipolar kernels to space-time rank ``rank`` (no change for 0 or a rank at
    least the kernels' full rank)."""
    conv = _convolution(model.bipolar)
    weight = conv.weight
    if 0 < rank < min(weight.shape[1], weight.shape[2] * weight.shape[3]):
        parametrize.register_parametrization(conv, "weight", _SpaceTimeRank(rank))


class _Signed(torch.nn.Module):
    """Parametrisation that fixes weights' signs during training: ``|w| * sign`` (sign 1: >= 0)."""

    sign: torch.Tensor

    def __init__(self, sign: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("sign", sign)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.abs() * self.sign


def _apply_dale(model: RetinaCNN, inhibitory: int) -> None:
    """Constrain the signs of the amacrine layer's connections (Dale's law) for ``inhibitory`` > 0.

    The amacrine convolution's weights are non-negative (bipolar input is excitatory), the scales
    of the amacrine and ganglion batch norms are non-negative (so they keep signs), and the last
    ``inhibitory`` amacrine channels reach every ganglion cell with non-positive readout weights,
    the others with non-negative ones. Silencing an inhibitory channel can then only raise rates,
    as blocking an amacrine cell does.
    """
    if inhibitory == 0:
        return
    channels = model.architecture["amacrine_channels"]
    if inhibitory > channels:
        raise RetinaCodecError(
            f"training setting inhibitory_channels is {inhibitory}; the model has "
            f"{channels} amacrine channels; expected at most that many"
        )
    device = model.stimulus_mean.device
    sign = torch.ones(channels, device=device)
    sign[channels - inhibitory :] = -1.0
    readout = model.ganglion[0]
    if isinstance(readout, FactorizedReadout):
        parametrize.register_parametrization(readout, "features", _Signed(sign[None]))
        parametrize.register_parametrization(readout, "mask", _Signed(torch.ones((), device=device)))
    else:
        linear = model.ganglion[1]
        parametrize.register_parametrization(
            linear, "weight", _Signed(sign.repeat_interleave(linear.in_features // channels)[None])
        )
    for module in (model.amacrine[0], model.amacrine[1], model.ganglion[-2]):
        parametrize.register_parametrization(module, "weight", _Signed(torch.ones((), device=device)))


def _remove_parametrizations(model: RetinaCNN) -> None:
    """Replace every training parametrisation by the plain tensor it gives (for the saved model)."""
    for module in model.modules():
        if parametrize.is_parametrized(module):
            parametrizations = module.parametrizations
            assert isinstance(parametrizations, torch.nn.ModuleDict)  # what register_parametrization adds
            for name in list(parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)


def _readout_envelope(model: RetinaCNN, envelope_px: float) -> torch.Tensor:
    """(n_cells, channels * side * side) Gaussian of ``envelope_px`` around each cell's position
    on the readout grid (ones for a cell without position)."""
    architecture = model.architecture
    margin = (architecture["bipolar_kernel"] - 1) / 2 + (architecture["amacrine_kernel"] - 1) / 2
    side = model.size - architecture["bipolar_kernel"] - architecture["amacrine_kernel"] + 2
    centres = torch.arange(side, dtype=torch.float32) + margin  # input pixel under each readout pixel
    position = torch.as_tensor(model.cell_position, dtype=torch.float32)
    squared = (centres[None, :, None] - position[:, 0, None, None]) ** 2 + (
        centres[None, None, :] - position[:, 1, None, None]
    ) ** 2
    envelope = torch.exp(-squared / (2 * envelope_px**2))
    envelope = torch.where(torch.isnan(envelope), torch.ones_like(envelope), envelope)
    channels = architecture["amacrine_channels"]
    return envelope[:, None].expand(-1, channels, -1, -1).reshape(model.n_cells, -1).contiguous()


def _initialise_readout(model: RetinaCNN, recordings: list[_Recording], envelope_px: float) -> None:
    """Start the readout: the prior around known positions, and the ganglion batch norm so that
    initial rates have the targets' mean and spread.

    With standardised readout input :math:`z`, the rate is :math:`\\mathrm{softplus}(\\gamma z +
    \\beta)`; :math:`\\beta = \\mathrm{softplus}^{-1}(\\bar y)` puts the mean rate at the target
    mean and :math:`\\gamma = s_y / (2\\sigma(\\beta))` (the softplus slope at :math:`\\beta` is
    the logistic :math:`\\sigma`) gives half the targets' standard deviation. For spike counts
    (targets that are whole multiples of the frame rate) :math:`s_y^2` is the variance less the
    Poisson variance :math:`\\bar y f` (f the frame rate), at least :math:`(\\bar y / 10)^2`: the
    spread of the rate, not of the spikes. A dense readout's
    weights are multiplied by the Gaussian envelope of ``envelope_px`` around each cell's position
    during training; a factorized readout's mask starts as that Gaussian.
    """
    if np.isfinite(envelope_px):
        envelope = _readout_envelope(model, envelope_px).to(model.stimulus_mean.device)
        if isinstance(model.ganglion[0], FactorizedReadout):
            mask = model.ganglion[0].mask
            with torch.no_grad():
                mask.copy_(envelope[:, : mask[0].numel()].reshape(mask.shape) / mask.shape[-1])
        else:
            parametrize.register_parametrization(model.ganglion[1], "weight", _Envelope(envelope))
    targets = torch.cat([rec.rates[: rec.n_train] for rec in recordings])
    mean = targets.mean(0).clamp_min(1e-3)
    variance = targets.var(0)
    counts = targets / model.frame_rate_hz
    if torch.allclose(counts, counts.round(), atol=1e-4):  # spikes: take out the Poisson variance
        variance = (variance - mean * model.frame_rate_hz).clamp_min((0.1 * mean) ** 2)
    spread = variance.sqrt().clamp_min(1e-3)
    beta = mean + torch.log(-torch.expm1(-mean))
    norm = model.ganglion[-2]
    assert isinstance(norm, torch.nn.BatchNorm1d)  # the readout's batch norm, before the softplus
    with torch.no_grad():
        norm.bias.copy_(beta)
        norm.weight.copy_(spread / (2 * torch.sigmoid(beta)))


def poisson_loss(predicted: torch.Tensor, target: torch.Tensor, frame_rate_hz: float) -> torch.Tensor:
    """Mean Poisson negative log-likelihood of counts per frame, from rates in Hz.

    :math:`\\ell = \\hat n - n \\log(\\hat n + \\epsilon)` with :math:`\\hat n, n` the predicted and
    target rates times the frame duration (``torch.nn.functional.poisson_nll_loss`` with
    ``log_input=False``), averaged over windows and cells.
    """
    return torch.nn.functional.poisson_nll_loss(predicted / frame_rate_hz, target / frame_rate_hz, log_input=False)


def group_spread(norms: torch.Tensor) -> torch.Tensor:
    """Mean over rows of :math:`\\|n_r\\|_1 / \\|n_r\\|_2`: 1 when every row has one non-zero
    entry, the square root of the column count when all are alike (a scale-free group lasso).

    Parameters
    ----------
    norms : torch.Tensor
        (rows, groups) non-negative group norms, e.g. (cell, channel) readout norms.
    """
    return (norms.sum(1) / norms.norm(dim=1).clamp_min(1e-8)).mean()


def penalty(model: RetinaCNN, settings: TrainingSettings) -> torch.Tensor:
    """The regularisation added to the loss: readout-mask sparsity, readout channel sparsity,
    amacrine input sparsity, kernel L2 and smoothness."""
    total = torch.zeros((), device=model.stimulus_mean.device)
    readout = model.ganglion[0]
    if settings.mask_sparsity and isinstance(readout, FactorizedReadout):
        total = total + settings.mask_sparsity * readout.sparsity()
    if settings.readout_channel_sparsity:
        total = total + settings.readout_channel_sparsity * group_spread(model.readout_channel_norms())
    if settings.amacrine_input_sparsity:
        total = total + settings.amacrine_input_sparsity * group_spread(model.amacrine_input_norms())
    kernels = (_convolution(model.bipolar).weight, _convolution(model.amacrine).weight)
    if settings.kernel_l2:
        total = total + settings.kernel_l2 * sum((kernel**2).sum() for kernel in kernels)
    if settings.kernel_smoothness and min(kernels[0].shape[-2:]) >= 3:
        laplace = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=total.device)
        flat = kernels[0].reshape(-1, 1, *kernels[0].shape[-2:])
        total = total + settings.kernel_smoothness * (torch.nn.functional.conv2d(flat, laplace[None, None]) ** 2).sum()
    return total


def _evaluate(model: RetinaCNN, recordings: list[_Recording], chunk: int = 1000) -> tuple[float, float]:
    """Validation Poisson loss and mean (over cells) Pearson r, in eval mode."""
    predicted, observed = [], []
    with evaluating(model, recordings[0].frames.device), torch.no_grad():
        for rec in recordings:
            for start in range(rec.validation_start, rec.rates.shape[0], chunk):
                stop = min(start + chunk, rec.rates.shape[0])
                movie = rec.frames[start : stop + model.history - 1]
                predicted.append(model.forward_movie(movie[None])[0])
                observed.append(rec.rates[start:stop])
    pred, true = torch.cat(predicted).double(), torch.cat(observed).double()
    loss = float(poisson_loss(pred, true, model.frame_rate_hz))
    return loss, float(column_correlation(pred.cpu().numpy(), true.cpu().numpy(), constant=0.0).mean())


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
        settings except ``epochs`` and ``patience``; a checkpoint written before a setting
        existed ran at that setting's default); False starts afresh.
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
    stimuli, responses, architecture = _checked(stimulus, responses, architecture)
    device = resolve_device(device)
    cell_type, position = _cell_metadata(responses[0])
    identity = {
        "architecture": architecture,
        "settings": _run_settings(settings),
        "data": _fingerprint(stimuli, responses),
    }
    last_path = Path(output_dir) / LAST_CHECKPOINT_NAME if output_dir is not None else None

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed)
        model = RetinaCNN(
            **architecture,
            cell_type=cell_type,
            cell_position=position,
            frame_rate_hz=float(stimuli[0].attrs["frame_rate_hz"]),
        ).to(device)
        model.name = name
        recordings = _recordings(stimuli, responses, model, settings, device)
        _initialise_readout(model, recordings, settings.readout_envelope_px)
        _limit_rank(model, settings.bipolar_rank)
        _apply_dale(model, settings.inhibitory_channels)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        run = _Run(model, optimizer, torch.Generator().manual_seed(settings.seed), identity)
        if resume and last_path is not None and last_path.is_file():
            run.restore(last_path, device)
        model.train()
        first_epoch = len(run.log["train_loss"])
        epochs = progress_bar(
            range(first_epoch, settings.epochs),
            desc="train",
            unit="epoch",
            initial=first_epoch,
            total=settings.epochs,
            progress=progress,
        )
        for epoch in epochs:
            if run.log["stopped_early"] or epoch - run.log["best_epoch"] >= settings.patience:
                run.log["stopped_early"] = True
                break
            _epoch(run, recordings, settings, epoch, progress)
            epochs.set_postfix(
                val_loss=f"{run.log['validation_loss'][-1]:.4g}", val_r=f"{run.log['validation_r'][-1]:.3f}"
            )
            if last_path is not None:
                run.save(last_path, epoch, device)

    model.load_state_dict(run.best_state)
    _remove_parametrizations(model)
    model.eval()
    if output_dir is not None:
        save_checkpoint(
            {
                "config": model.config(),
                "state_dict": model.state_dict(),
                "log": run.log,
                "settings": dataclasses.asdict(settings),
                "provenance": dict(metadata or {}),
                "retinacodec_version": __version__,
            },
            Path(output_dir) / CHECKPOINT_NAME,
        )
    return model, run.log


def _checked(stimulus, responses, architecture) -> tuple[list, list, dict]:
    """Checked (stimuli, responses, full architecture with ``n_cells`` and ``size``)."""
    architecture = dict(architecture or {})
    unknown = sorted(set(architecture) - set(ARCHITECTURE_KEYS) | set(architecture) & {"n_cells", "size"})
    if unknown:
        raise RetinaCodecError(
            f"architecture arguments {unknown} are unknown or set by the data; expected some of "
            f"{[k for k in ARCHITECTURE_KEYS if k not in ('n_cells', 'size')]}"
        )
    history = int(architecture.get("history", 40))
    stimuli, responses = _check_pairs(_as_list(stimulus), _as_list(responses), history)
    size = stimuli[0].sizes["y"]
    if stimuli[0].sizes["x"] != size:
        raise RetinaCodecError(f"frames are {size}x{stimuli[0].sizes['x']} px; expected square frames")
    return stimuli, responses, {**architecture, "n_cells": responses[0].sizes["cell"], "size": size}


def _run_settings(settings: TrainingSettings) -> dict:
    """The settings that make a run what it is: all but ``epochs`` and ``patience``, which a
    resumed run may change."""
    return {key: value for key, value in dataclasses.asdict(settings).items() if key not in ("epochs", "patience")}


def _with_later_defaults(identity: dict | None) -> dict | None:
    """A checkpoint's run identity with the settings added since it was written, at their defaults.

    Every setting was added with a default that leaves training as it was (0: off), so a run
    written before a setting existed ran at its default, and resumes as such.
    """
    if not isinstance(identity, dict) or not isinstance(identity.get("settings"), dict):
        return identity
    return {**identity, "settings": {**_run_settings(TrainingSettings()), **identity["settings"]}}


class _Run:
    """The state of one training run that a checkpoint carries: model, optimiser, sampler, log."""

    def __init__(self, model: RetinaCNN, optimizer, sampler: torch.Generator, identity: dict) -> None:
        self.model, self.optimizer, self.sampler, self.identity = model, optimizer, sampler, identity
        self.log: dict[str, Any] = {
            "train_loss": [],
            "validation_loss": [],
            "validation_r": [],
            "epoch_seconds": [],
            "learning_rate": [],
            "best_epoch": 0,
            "stopped_early": False,
            "resumed_from_epoch": 0,
        }
        self.best_loss, self.best_state = float("inf"), copy.deepcopy(model.state_dict())

    def restore(self, path: Path, device: torch.device) -> None:
        state = load_checkpoint(path, map_location=device)
        if _with_later_defaults(state.get("identity")) != self.identity:
            raise RetinaCodecError(
                f"{path} belongs to a run with other data, architecture or settings; "
                f"expected the same run (use another output folder or resume=False)"
            )
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.best_state, self.best_loss, self.log = (
            state["best_state_dict"],
            state["best_validation_loss"],
            state["log"],
        )
        self.log["resumed_from_epoch"] = state["epoch"]
        torch.set_rng_state(state["rng"]["torch"])
        self.sampler.set_state(state["rng"]["sampler"])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)

    def save(self, path: Path, epoch: int, device: torch.device) -> None:
        rng = {"torch": torch.get_rng_state(), "sampler": self.sampler.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        save_checkpoint(
            {
                "config": self.model.config(),
                "state_dict": self.model.state_dict(),
                "optimizer_state": self.optimizer.state_dict(),
                "epoch": epoch + 1,
                "log": self.log,
                "best_state_dict": self.best_state,
                "best_validation_loss": self.best_loss,
                "rng": rng,
                "identity": self.identity,
                "retinacodec_version": __version__,
            },
            path,
        )


def _learning_rate(log: dict, settings: TrainingSettings, epoch: int) -> float:
    """The step size of ``epoch``: the decay per epoch times ``plateau_factor`` for every past
    epoch whose validation loss was not the lowest so far."""
    losses = log["validation_loss"][:epoch]
    plateaus = sum(loss > min(losses[: k + 1]) for k, loss in enumerate(losses))
    return settings.learning_rate * settings.learning_rate_decay**epoch * settings.plateau_factor**plateaus


def _epoch(run: _Run, recordings: list[_Recording], settings: TrainingSettings, epoch: int, progress: bool) -> None:
    """One pass over the training windows, then the validation loss (keeping the best weights)."""
    model, optimizer, log = run.model, run.optimizer, run.log
    started = time.perf_counter()
    learning_rate = _learning_rate(log, settings, epoch)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    pieces = _segments(recordings, settings.segment_windows, run.sampler)
    total = 0.0
    for start in progress_bar(
        range(0, len(pieces), settings.batch_segments),
        desc=f"epoch {epoch + 1}",
        unit="batch",
        leave=False,
        progress=progress,
    ):
        batch = pieces[start : start + settings.batch_segments]
        movies, targets = _movie_batch(recordings, batch, settings.segment_windows, model.history)
        loss = poisson_loss(model.forward_movie(movies), targets, model.frame_rate_hz)
        optimizer.zero_grad(set_to_none=True)
        (loss + penalty(model, settings)).backward()
        optimizer.step()
        total += loss.item() * len(batch)
    validation_loss, validation_r = _evaluate(model, recordings)
    for key, value in (
        ("train_loss", total / len(pieces)),
        ("validation_loss", validation_loss),
        ("validation_r", validation_r),
        ("epoch_seconds", time.perf_counter() - started),
        ("learning_rate", learning_rate),
    ):
        log.setdefault(key, []).append(value)
    if validation_loss < run.best_loss:
        run.best_loss, run.best_state = validation_loss, copy.deepcopy(model.state_dict())
        log["best_epoch"] = epoch + 1
