"""Training the retina CNN: Poisson loss, Adam, early stopping, resumable atomic checkpoints.

:func:`train_model` fits a :class:`RetinaCNN` to stimulus/response pairs; :func:`train_from_recipe`
does everything ``retinacodec train --recipe`` needs (data from the virtual retina or an NWB
recording, training, the model folder, the held-out evaluation).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.nn.utils import parametrize
from tqdm.auto import tqdm

from .. import __version__
from ..device import evaluating, resolve_device
from ..errors import RetinaCodecError
from ..io.atomic import atomic_destination
from ..io.checkpoints import load_checkpoint, save_checkpoint
from ..stimuli.base import validate_stimulus
from .registry import CHECKPOINT_NAME, VIRTUAL_RETINA_NAME
from .retina_cnn import ARCHITECTURE_KEYS, RetinaCNN

LAST_CHECKPOINT_NAME = "last.pt"
"""File name of the resumable end-of-epoch checkpoint (weights, optimizer, RNG states)."""


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings of :func:`train_model` (all but ``epochs`` and ``patience`` must
    match to resume a run)."""

    epochs: int = 20
    """Most passes over the training windows."""
    learning_rate: float = 1e-3
    """Adam step size in the first epoch."""
    learning_rate_decay: float = 1.0
    """Factor applied to the step size after every epoch (epoch ``k`` uses
    ``learning_rate * learning_rate_decay ** k``, k from 0)."""
    weight_decay: float = 0.0
    """L2 penalty on all weights (Adam's ``weight_decay``)."""
    batch_segments: int = 8
    """Contiguous stretches of windows per mini-batch, drawn in random order."""
    segment_windows: int = 64
    """Consecutive windows per stretch (a mini-batch holds batch_segments x segment_windows)."""
    validation_fraction: float = 0.1
    """Fraction of each recording held out at its end for validation and early stopping."""
    patience: int = 4
    """Epochs without a lower validation loss before training stops."""
    readout_envelope_px: float = 3.0
    """Standard deviation (px) of a Gaussian around each cell's position that multiplies its
    readout weights during training (a prior that the cell reads out from near where it is;
    kept in the final weights); ``inf`` for a plain dense readout."""
    seed: int = 0
    """Seed of the weight initialisation, the batch order and the training noise."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_segments", "segment_windows", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RetinaCodecError(f"training setting {name} is {value!r}; expected a positive integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise RetinaCodecError(f"training setting seed is {self.seed!r}; expected an integer >= 0")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise RetinaCodecError(f"learning_rate is {self.learning_rate!r}; expected a positive number")
        if not (isinstance(self.learning_rate_decay, (int, float)) and 0 < self.learning_rate_decay <= 1):
            raise RetinaCodecError(
                f"learning_rate_decay is {self.learning_rate_decay!r}; expected a number in (0, 1]"
            )
        if not (isinstance(self.readout_envelope_px, (int, float)) and self.readout_envelope_px > 0):
            raise RetinaCodecError(
                f"readout_envelope_px is {self.readout_envelope_px!r}; expected a positive number of px"
            )
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise RetinaCodecError(f"weight_decay is {self.weight_decay!r}; expected a number >= 0")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 < self.validation_fraction < 1):
            raise RetinaCodecError(
                f"validation_fraction is {self.validation_fraction!r}; expected a number in (0, 1)"
            )

    @classmethod
    def from_dict(cls, mapping: dict[str, Any]) -> TrainingSettings:
        """Settings from a mapping (a recipe's ``[training]`` table); unknown keys are refused."""
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise RetinaCodecError(f"unknown training settings {unknown}; expected some of {names}")
        return cls(**mapping)


@dataclass
class _Recording:
    """One contiguous movie, normalised, with its target rates and window split."""

    frames: torch.Tensor  # (time, y, x) normalised
    rates: torch.Tensor  # (time, cell) Hz
    n_train: int  # training windows 0 .. n_train - 1
    validation_start: int  # first validation window (no frame shared with training windows)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_pairs(stimuli: list[xr.DataArray], responses: list[xr.DataArray], history: int):
    if len(stimuli) != len(responses) or not stimuli:
        raise RetinaCodecError(
            f"{len(stimuli)} stimuli and {len(responses)} responses; expected one response per stimulus"
        )
    stimuli = [validate_stimulus(stim, min_frames=history) for stim in stimuli]
    first = stimuli[0]
    cells = None
    for index, (stim, resp) in enumerate(zip(stimuli, responses)):
        if (stim.sizes["y"], stim.sizes["x"]) != (first.sizes["y"], first.sizes["x"]) or not np.isclose(
                stim.attrs["frame_rate_hz"], first.attrs["frame_rate_hz"]):
            raise RetinaCodecError(
                f"stimulus {index} is {stim.sizes['y']}x{stim.sizes['x']} px at "
                f"{stim.attrs['frame_rate_hz']:g} Hz; expected every stimulus like the first "
                f"({first.sizes['y']}x{first.sizes['x']} px at {first.attrs['frame_rate_hz']:g} Hz)"
            )
        if not isinstance(resp, xr.DataArray) or set(resp.dims) != {"time", "cell"}:
            raise RetinaCodecError(f"responses {index} is not a DataArray with dims (time, cell)")
        if resp.sizes["time"] != stim.sizes["time"]:
            raise RetinaCodecError(
                f"responses {index} has {resp.sizes['time']} time points for {stim.sizes['time']} "
                f"stimulus frames; expected one response per frame"
            )
        values = np.asarray(resp.values, dtype=float)
        if not np.isfinite(values).all() or (values < 0).any():
            raise RetinaCodecError(
                f"responses {index} holds negative or non-finite rates; expected rates >= 0 Hz"
            )
        cells = resp.sizes["cell"] if cells is None else cells
        if resp.sizes["cell"] != cells:
            raise RetinaCodecError(
                f"responses {index} has {resp.sizes['cell']} cells; expected {cells} like the first"
            )
    return stimuli, [resp.transpose("time", "cell") for resp in responses]


def _cell_metadata(responses: xr.DataArray) -> tuple[list[str], np.ndarray]:
    """Cell types and [y, x] positions (px) from a response's cell coords, where present."""
    n_cells = responses.sizes["cell"]
    cell_type = ([str(t) for t in responses["cell_type"].values] if "cell_type" in responses.coords
                 else ["unknown"] * n_cells)
    if "y" in responses.coords and "x" in responses.coords:
        position = np.stack([responses["y"].values, responses["x"].values], axis=1).astype(float)
    else:
        position = np.full((n_cells, 2), np.nan)
    return cell_type, position


def _fingerprint(stimuli: list[xr.DataArray], responses: list[xr.DataArray]) -> str:
    """SHA-256 of the training data, to refuse resuming a run on different data."""
    digest = hashlib.sha256()
    for array in (*stimuli, *responses):
        digest.update(np.ascontiguousarray(array.values, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _split(n_frames: int, history: int, settings: TrainingSettings, index: int) -> tuple[int, int]:
    """(training windows, first validation window) of one recording of ``n_frames`` frames."""
    n_windows = n_frames - history + 1
    n_validation = int(round(settings.validation_fraction * n_windows))
    n_train = n_windows - n_validation - (history - 1)
    if n_validation < 1 or n_train < settings.segment_windows:
        raise RetinaCodecError(
            f"stimulus {index} has {n_frames} frames: too few for {n_validation} validation "
            f"windows, a gap of {history - 1} frames and one training segment of "
            f"{settings.segment_windows} windows; expected a longer recording"
        )
    return n_train, n_train + history - 1


def _recordings(stimuli, responses, model: RetinaCNN, settings: TrainingSettings, device) -> list[_Recording]:
    """Split every recording and normalise it with the training frames' mean and std (stored
    in ``model``)."""
    history = model.history
    splits = [_split(stim.sizes["time"], history, settings, i) for i, stim in enumerate(stimuli)]
    count = total = squares = 0.0
    for stim, (n_train, _) in zip(stimuli, splits):
        frames = np.asarray(stim.values[:n_train + history - 1], dtype=np.float64)
        count, total, squares = count + frames.size, total + frames.sum(), squares + (frames**2).sum()
    mean = total / count
    model.set_normalisation(mean, float(np.sqrt(max(squares / count - mean**2, 0.0))) or 1.0)
    recordings = []
    for stim, resp, (n_train, validation_start) in zip(stimuli, responses, splits):
        frames = torch.as_tensor(np.asarray(stim.values, dtype=np.float32), device=device)
        frames = (frames - model.stimulus_mean) / model.stimulus_std
        rates = torch.as_tensor(np.asarray(resp.values, dtype=np.float32), device=device)
        recordings.append(_Recording(frames, rates[history - 1:], n_train, validation_start))
    return recordings


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


def _segments(recordings: list[_Recording], size: int, generator: torch.Generator) -> list[tuple[int, int]]:
    """(recording, first window) of every training segment of one epoch, shuffled.

    Each recording's training windows are tiled into non-overlapping runs of ``size`` windows
    from a random offset, so an epoch visits (nearly) every training window once.
    """
    pieces = []
    for index, rec in enumerate(recordings):
        offset = int(torch.randint(0, min(size, rec.n_train - size + 1), (1,), generator=generator))
        pieces += [(index, start) for start in range(offset, rec.n_train - size + 1, size)]
    order = torch.randperm(len(pieces), generator=generator).tolist()
    return [pieces[i] for i in order]


def _movie_batch(recordings, pieces, n_windows: int, history: int) -> tuple[torch.Tensor, torch.Tensor]:
    movies = torch.stack([recordings[r].frames[s:s + n_windows + history - 1] for r, s in pieces])
    targets = torch.stack([recordings[r].rates[s:s + n_windows] for r, s in pieces])
    return movies, targets


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


# ---------------------------------------------------------------------------- recipes
RECIPE_SECTIONS = ("name", "description", "data", "architecture", "training", "evaluation")
DATA_KEYS = ("source", "virtual_retina", "targets", "spike_seed", "stimuli", "path", "stimulus")
EVALUATION_KEYS = ("n_frames", "seed")
TARGETS = ("rate", "spikes")


@dataclass
class RecipeResult:
    """What :func:`train_from_recipe` produced."""

    model_dir: Path
    """Folder with ``model.pt`` (loadable by :func:`retinacodec.models.load`), ``last.pt``,
    ``recipe.toml`` and, for virtual-retina data, ``virtual_retina.json`` and ``evaluation.nc``."""
    model: RetinaCNN
    """The trained model (best validation loss), in eval mode."""
    log: dict[str, Any]
    """The training log of :func:`train_model`."""
    evaluation: xr.Dataset | None
    """Held-out fit on fresh natural jitter (:func:`evaluate_on_virtual_retina`), or None."""
    data_seconds: float
    """Wall time spent making the training data in this call (s)."""

    def summary(self) -> str:
        """A few lines for the command line: where the model went, its training and its fit."""
        log = self.log
        lines = [
            f"wrote {self.model_dir / CHECKPOINT_NAME}: {len(log['train_loss'])} epochs "
            f"(best {log['best_epoch']}{', stopped early' if log['stopped_early'] else ''}), "
            f"training {sum(log['epoch_seconds']):.0f} s + data {self.data_seconds:.0f} s",
            f"validation: Poisson loss {log['validation_loss'][log['best_epoch'] - 1]:.4g}, "
            f"mean r {log['validation_r'][log['best_epoch'] - 1]:.3f}",
        ]
        if self.evaluation is not None:
            lines.append(fit_table(self.evaluation["pearson_r"]))
        return "\n".join(lines)


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    if not path.is_file():
        raise RetinaCodecError(f"recipe not found: {path}; expected a TOML training recipe")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RetinaCodecError(f"{path} is not valid TOML ({exc}); expected a training recipe") from None


def _check_keys(mapping: Any, allowed: Sequence[str], where: str) -> dict:
    if not isinstance(mapping, dict):
        raise RetinaCodecError(f"{where} is {mapping!r}; expected a table")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise RetinaCodecError(f"{where}: unknown keys {unknown}; expected some of {list(allowed)}")
    return mapping


def _render(entry: dict, index: int, progress: bool) -> xr.DataArray:
    """The stimulus of one ``[[data.stimuli]]`` entry (kind + parameters)."""
    import inspect

    from ..stimuli.recipes import GENERATORS, recipe_parameters

    entry = _check_keys(entry, ("kind", "parameters"), f"data.stimuli[{index}]")
    kind, parameters = entry.get("kind"), dict(entry.get("parameters", {}))
    if kind not in GENERATORS:
        raise RetinaCodecError(f"data.stimuli[{index}].kind is {kind!r}; expected one of {list(GENERATORS)}")
    _check_keys(parameters, recipe_parameters(kind), f"data.stimuli[{index}].parameters")
    if "progress" in inspect.signature(GENERATORS[kind]).parameters:
        parameters["progress"] = progress
    return GENERATORS[kind](**parameters)


def _virtual_retina_data(data: dict, folder: Path, progress: bool):
    """(virtual retina, stimuli, target rates in Hz) for a ``source = "virtual_retina"`` recipe."""
    import json

    from .virtual_retina import VirtualRetina

    parameters = folder / str(data.get("virtual_retina", "virtual_retina.json"))
    try:
        retina = VirtualRetina.from_dict(json.loads(parameters.read_text()))
    except (OSError, ValueError) as exc:
        raise RetinaCodecError(
            f"cannot read virtual-retina parameters {parameters} ({exc}); expected a JSON file "
            f"written from VirtualRetina.to_dict()"
        ) from None
    targets = data.get("targets", "rate")
    if targets not in TARGETS:
        raise RetinaCodecError(f"data.targets is {targets!r}; expected one of {list(TARGETS)}")
    entries = data.get("stimuli")
    if not isinstance(entries, list) or not entries:
        raise RetinaCodecError("data.stimuli is missing or empty; expected [[data.stimuli]] tables")
    stimuli, responses = [], []
    for index, entry in enumerate(entries):
        stim = _render(entry, index, progress)
        out = retina.respond(stim, seed=int(data.get("spike_seed", 0)) + index, progress=progress)
        rate = out["rate"] if targets == "rate" else out["spikes"] * stim.attrs["frame_rate_hz"]
        stimuli.append(stim)
        responses.append(rate)
    return retina, stimuli, responses


def _nwb_data(data: dict, folder: Path):
    """(stimulus, rates in Hz = spike counts x frame rate) from a ``source = "nwb"`` recipe."""
    from ..io import read_nwb

    if "path" not in data:
        raise RetinaCodecError("data.path is missing; expected the NWB file of the recording")
    recording = read_nwb(folder / str(data["path"]), stimulus=data.get("stimulus"))
    stim = recording["stimulus"]
    return stim, recording["spikes"] * float(stim.attrs["frame_rate_hz"])


def train_from_recipe(
    recipe_path: str | Path,
    output_dir: str | Path,
    resume: bool = True,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> RecipeResult:
    """Make the data a recipe names, train the model, write its folder and evaluate it.

    Parameters
    ----------
    recipe_path : str or path
        TOML recipe (see ``models/default/recipe.toml``): ``name``, ``description``, ``[data]``
        (``source = "virtual_retina"`` with ``virtual_retina`` = parameter JSON, ``targets`` =
        ``"rate"`` (true rates) or ``"spikes"`` (Poisson counts, as Hz), ``spike_seed`` and
        ``[[data.stimuli]]`` entries of ``kind`` + ``parameters``; or ``source = "nwb"`` with
        ``path`` and optional ``stimulus``), ``[architecture]``, ``[training]``
        (:class:`TrainingSettings`) and ``[evaluation]`` (``n_frames``, ``seed`` of fresh
        natural jitter). Relative paths are relative to the recipe's folder.
    output_dir : str or path
        Model folder to write (created if needed).
    resume : bool
        Continue an interrupted run from ``output_dir/last.pt``.
    device : str or torch.device
        ``"cpu"`` (default), ``"cuda"`` or ``"auto"``.
    progress : bool
        Show progress bars.

    Returns
    -------
    RecipeResult
        The model folder, model, training log, held-out evaluation and data time.

    Raises
    ------
    RetinaCodecError
        For a missing or malformed recipe or data file, or an evaluation seed used in training.
    """
    import json
    import shutil

    recipe_path = Path(recipe_path)
    recipe = _check_keys(_read_toml(recipe_path), RECIPE_SECTIONS, str(recipe_path))
    data = _check_keys(recipe.get("data", {}), DATA_KEYS, "[data]")
    settings = TrainingSettings.from_dict(_check_keys(recipe.get("training", {}),
                                                      [f.name for f in dataclasses.fields(TrainingSettings)],
                                                      "[training]"))
    architecture = _check_keys(recipe.get("architecture", {}), ARCHITECTURE_KEYS, "[architecture]")
    evaluation = _check_keys(recipe.get("evaluation", {}), EVALUATION_KEYS, "[evaluation]")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    source = data.get("source", "virtual_retina")
    started = time.perf_counter()
    retina = None
    if source == "virtual_retina":
        retina, stimuli, responses = _virtual_retina_data(data, recipe_path.parent, progress)
        seeds = [s.attrs.get("seed") for s in stimuli if s.attrs.get("kind") == "natural_jitter"]
        if evaluation.get("seed", 1000) in seeds:
            raise RetinaCodecError(
                f"evaluation seed {evaluation.get('seed', 1000)} is also a training seed; expected "
                f"fresh natural jitter for the held-out evaluation"
            )
    elif source == "nwb":
        stimuli, responses = _nwb_data(data, recipe_path.parent)
    else:
        raise RetinaCodecError(f"data.source is {source!r}; expected 'virtual_retina' or 'nwb'")
    data_seconds = time.perf_counter() - started
    name = str(recipe.get("name", recipe_path.parent.name))
    model, log = train_model(stimuli, responses, architecture=architecture, settings=settings,
                             output_dir=output_dir, resume=resume, name=name, device=device,
                             progress=progress,
                             metadata={"recipe": recipe, "recipe_path": str(recipe_path)})
    if recipe_path.resolve() != (output_dir / "recipe.toml").resolve():
        with atomic_destination(output_dir / "recipe.toml") as tmp:
            shutil.copyfile(recipe_path, tmp)
    scores = None
    if retina is not None:
        with atomic_destination(output_dir / VIRTUAL_RETINA_NAME) as tmp:
            tmp.write_text(json.dumps(retina.to_dict(), indent=1) + "\n")
        from ..io import write_netcdf

        scores = evaluate_on_virtual_retina(model, retina, progress=progress, **evaluation)
        write_netcdf(scores["pearson_r"], output_dir / "evaluation.nc")
    return RecipeResult(output_dir, model, log, scores, data_seconds)


def evaluate_on_virtual_retina(
    model: RetinaCNN,
    retina: Any = None,
    n_frames: int = 3000,
    seed: int = 1000,
    progress: bool = False,
) -> xr.Dataset:
    """How well a model predicts its virtual retina's true rates on fresh natural jitter.

    Parameters
    ----------
    model : RetinaCNN
        Trained on the virtual retina (its cells must be the retina's, in order).
    retina : VirtualRetina, optional
        The ground truth; ``model.virtual_retina`` (set by :func:`retinacodec.models.load`) if None.
    n_frames : int
        Frames of natural jitter (at 100 Hz: 3000 frames = 30 s).
    seed : int
        Seed of the natural jitter; use one not used in training.
    progress : bool
        Show progress bars.

    Returns
    -------
    xarray.Dataset
        ``predicted`` and ``true`` rates (time, cell) in Hz from frame ``history - 1`` on, and
        ``pearson_r`` (cell), with coords cell_type, y, x; attrs model, seed, n_frames.

    Raises
    ------
    RetinaCodecError
        If no virtual retina is given or attached, or its cells differ from the model's.
    """
    from ..metrics import pearson_r
    from ..stimuli import natural_jitter
    from .registry import predict

    retina = retina if retina is not None else getattr(model, "virtual_retina", None)
    if retina is None:
        raise RetinaCodecError(
            f"model {model.name!r} has no virtual retina; expected one to evaluate against"
        )
    cells = retina.cells
    if list(cells["cell_type"].values) != list(model.cell_type):
        raise RetinaCodecError(
            f"the virtual retina's cells ({list(cells['cell_type'].values)}) differ from the "
            f"model's ({model.cell_type}); expected the retina the model was trained on"
        )
    stim = natural_jitter(n_frames=n_frames, seed=seed, size=model.size, progress=progress)
    true = retina.respond(stim, progress=progress)["rate"]
    predicted = predict(model, stim, progress=progress)
    r = pearson_r(predicted, true)
    return xr.Dataset(
        {"predicted": predicted.drop_vars(["y", "x"]),
         "true": true.drop_vars(["y", "x"]).sel(time=predicted["time"]),
         "pearson_r": r},
        attrs={"model": model.name, "stimulus": "natural_jitter", "seed": int(seed),
               "n_frames": int(n_frames), "retinacodec_version": __version__},
    )


def fit_table(pearson_r: xr.DataArray) -> str:
    """Markdown table of Pearson r per cell type: cells, mean, min, max, and all cells.

    Parameters
    ----------
    pearson_r : xarray.DataArray
        (cell,) correlations with a ``cell_type`` coord.

    Returns
    -------
    str
        A Markdown table, one row per type and a final ``all`` row.
    """
    rows = ["| cell type | cells | mean r | min r | max r |", "|---|---|---|---|---|"]
    groups = [(str(t), pearson_r.where(pearson_r["cell_type"] == t, drop=True))
              for t in dict.fromkeys(pearson_r["cell_type"].values)]
    for label, values in [*groups, ("all", pearson_r)]:
        rows.append(f"| {label} | {values.size} | {float(values.mean()):.3f} | "
                    f"{float(values.min()):.3f} | {float(values.max()):.3f} |")
    return "\n".join(rows)
