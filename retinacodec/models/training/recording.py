"""Models of a recording: the CNN and the LN baseline fitted to its spikes, with held-out data.

A recording is a stimulus (time, y, x) and spike counts (time, cell) binned at its frames. Its
last part is held out, and so are repeats of a frozen segment when there are any; the rest is
cut into contiguous stretches that both models fit (each stretch ends in its validation part).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..._validation import check_number
from ...errors import RetinaCodecError
from ...io.checkpoints import load_checkpoint, save_checkpoint
from ...io.netcdf import write_netcdf
from ..cell_types import TypeLabels, type_units
from ..ln import LNModel
from ..registry import CHECKPOINT_NAME, model_from_checkpoint
from ..retina_cnn import RetinaCNN
from .baseline import train_ln
from .data import _fingerprint, find_repeats
from .evaluate import evaluate_recording, recording_table
from .loop import train_model
from .settings import TrainingSettings

if TYPE_CHECKING:
    from ...io.nwb import NWBSelection

MIN_SECONDS = 120.0
"""Shortest recording (s) accepted for training."""
HISTORY_S = 0.4
"""Default window of stimulus history (s) the models see."""
HELDOUT_FRACTION = 0.1
"""Fraction of the recording held out at its end for the final evaluation."""


@dataclass
class RecordingSplit:
    """Where each part of a recording goes."""

    train: list[tuple[xr.DataArray, xr.DataArray]]
    """(stimulus, spike counts) of each contiguous stretch the models fit (with its validation tail)."""
    heldout: tuple[xr.DataArray, xr.DataArray]
    """(stimulus, spike counts) of the last part, used by neither fitting nor early stopping."""
    repeat_stimulus: xr.DataArray | None
    """Frames of the frozen segment (time, y, x), or None without repeats."""
    repeats: xr.DataArray | None
    """Spike counts on each repeat (trial, time, cell), times of ``repeat_stimulus``, or None."""


def check_recording(stimulus: xr.DataArray, spikes: xr.DataArray) -> None:
    """Refuse recordings that cannot train a model, with one line saying why.

    Raises
    ------
    RetinaCodecError
        For fewer than :data:`MIN_SECONDS` of stimulus, spikes of another length than the
        stimulus, or a unit without a spike.
    """
    seconds = stimulus.sizes["time"] / float(stimulus.attrs["frame_rate_hz"])
    if seconds < MIN_SECONDS:
        raise RetinaCodecError(
            f"the recording has {seconds:.0f} s of stimulus; expected at least {MIN_SECONDS:.0f} s to "
            f"train and evaluate a model"
        )
    if spikes.sizes["time"] != stimulus.sizes["time"]:
        raise RetinaCodecError(
            f"spike counts have {spikes.sizes['time']} bins for {stimulus.sizes['time']} frames; "
            f"expected one bin per frame"
        )
    silent = spikes["cell"].values[np.asarray(spikes.sum("time").values) == 0]
    if silent.size:
        raise RetinaCodecError(
            f"units {silent.tolist()} have no spikes during the stimulus; expected every unit to "
            f"fire (drop silent units before training)"
        )


def recording_architecture(stimulus: xr.DataArray, history_s: float = HISTORY_S) -> dict:
    """CNN shape for a recording: ``history_s`` of history, kernels scaled with the frame size.

    The default kernels (15 and 11 px on 50 px frames) scale linearly with the frame edge, odd,
    at least 1 px: 1 x 1 frames give a temporal model (kernels 1). The readout is factorized.

    Raises
    ------
    RetinaCodecError
        If ``history_s`` is not a finite number > 0 or exceeds the stimulus's duration.
    """
    size = int(stimulus.sizes["y"])
    rate = float(stimulus.attrs["frame_rate_hz"])
    history_s = check_number("history_s", history_s, strictly_above=0.0)
    duration_s = stimulus.sizes["time"] / rate
    if history_s > duration_s:
        raise RetinaCodecError(
            f"history_s is {history_s:g} s; expected at most the stimulus's duration, {duration_s:g} s"
        )
    history = max(2, int(round(history_s * rate)))
    odd = lambda value: max(1, int(round(value)) // 2 * 2 + 1) if size > 1 else 1  # noqa: E731
    bipolar, amacrine = odd(15 * size / 50), odd(11 * size / 50)
    while bipolar + amacrine > size + 1:
        bipolar, amacrine = max(1, bipolar - 2), max(1, amacrine - 2)
    return {"history": history, "bipolar_kernel": bipolar, "amacrine_kernel": amacrine, "readout": "factorized"}


def recording_settings(seed: int = 0, **changes) -> TrainingSettings:
    """Training settings for spikes: regularised readout and kernels, a step size that drops on
    plateaus, early stopping."""
    return TrainingSettings(**{**RECORDING_SETTINGS, "seed": seed, **changes})


RECORDING_SETTINGS = dict(
    epochs=30,
    learning_rate=5e-3,
    plateau_factor=0.3,
    patience=3,
    batch_segments=8,
    segment_windows=64,
    validation_fraction=0.1,
    readout_envelope_px=2.0,
    mask_sparsity=1e-3,
    kernel_l2=0.0,
    bipolar_rank=2,
)
"""Defaults of :func:`recording_settings`, chosen on simulated recordings (``python -m
retinacodec.bench recording``; docs/guides/retina-lab.md gives the runs); the epoch count is set
from the amount of data by :func:`epochs_for`. Bipolar kernels have space-time rank 2 (a centre and
a surround, each with its own time course): free 40 x 15 x 15 kernels (9,000 weights a channel
against 530 at rank 2) fit the spikes' noise."""
EPOCH_BUDGET = 1.6e9
"""Window-pixels (training windows x frame pixels, at least 100 pixels) of all epochs together:
a 20-minute 50 x 50 px recording gets 7 epochs, 10 minutes 13 (all with early stopping; the epochs
the bench's runs took are in docs/results/recordings.md)."""
MAX_EPOCHS = 12
"""Most epochs of any recording (shorter ones would get more from :data:`EPOCH_BUDGET`): by then
the plateau drops have cut the step size; it bounds the training time of short recordings."""


def epochs_for(n_windows: int, size: int) -> int:
    """Epochs that suit the data: :data:`EPOCH_BUDGET` / (windows x pixels), between 3 and
    :data:`MAX_EPOCHS`."""
    return int(np.clip(round(EPOCH_BUDGET / (n_windows * max(size * size, 100))), 3, MAX_EPOCHS))


def split_recording(
    stimulus: xr.DataArray,
    spikes: xr.DataArray,
    heldout_fraction: float = HELDOUT_FRACTION,
    repeat_start: np.ndarray | None = None,
    repeat_frames: int = 0,
    min_frames: int = 1,
) -> RecordingSplit:
    """Cut a recording into training stretches, the held-out end and the repeats.

    Parameters
    ----------
    stimulus, spikes : xarray.DataArray
        (time, y, x) contrast and (time, cell) counts of the whole recording.
    heldout_fraction : float
        Fraction held out at the end (in (0, 1)).
    repeat_start : numpy.ndarray, optional
        First frame of each repeat of a frozen segment; found by identical frames
        (:func:`find_repeats`) when None.
    repeat_frames : int
        Frames per repeat (with ``repeat_start``).
    min_frames : int
        Shortest training stretch kept (frames).

    Returns
    -------
    RecordingSplit
    """
    n_frames = stimulus.sizes["time"]
    if not 0 < heldout_fraction < 1:
        raise RetinaCodecError(f"heldout_fraction is {heldout_fraction!r}; expected a number in (0, 1)")
    if repeat_start is None:
        repeat_start, repeat_frames = find_repeats(stimulus.values, float(stimulus.attrs["frame_rate_hz"]))
    cut = int(round((1 - heldout_fraction) * n_frames))
    used = np.zeros(n_frames, bool)
    used[cut:] = True
    for start in repeat_start:
        used[start : start + repeat_frames] = True
    edges = np.diff(np.concatenate([[1], used.astype(np.int8), [1]]))
    stretches = [(a, b) for a, b in zip(np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)) if b - a >= min_frames]
    train = [(stimulus.isel(time=slice(a, b)), spikes.isel(time=slice(a, b))) for a, b in stretches]
    heldout = (stimulus.isel(time=slice(cut, None)), spikes.isel(time=slice(cut, None)))
    if len(repeat_start) < 2:
        return RecordingSplit(train, heldout, None, None)
    first = int(repeat_start[0])
    frozen = stimulus.isel(time=slice(first, first + repeat_frames))
    trials = np.stack([spikes.values[s : s + repeat_frames] for s in repeat_start])
    repeats = xr.DataArray(
        trials,
        dims=("trial", "time", "cell"),
        coords={"time": frozen["time"].values, "cell": spikes["cell"].values},
        name="spikes",
        attrs={"repeat_start": np.asarray(repeat_start).tolist()},
    )
    return RecordingSplit(train, heldout, frozen, repeats)


@dataclass(frozen=True)
class HeldOut:
    """What a recording holds out from fitting: its end, and the repeats of a frozen segment."""

    fraction: float = HELDOUT_FRACTION
    """Fraction of the recording held out at its end, in (0, 1)."""
    repeat_start: np.ndarray | None = None
    """First frame of each repeat of a frozen segment; None finds them by identical frames
    (:func:`find_repeats`)."""
    repeat_frames: int = 0
    """Frames per repeat (with ``repeat_start``)."""


@dataclass
class RecordingResult:
    """What :func:`train_recording` produced."""

    folder: Path
    """Output folder: ``cnn/`` (model.pt, last.pt), ``ln/model.pt``, ``evaluation.nc``."""
    cnn: RetinaCNN
    """The CNN with the lowest validation loss, in eval mode."""
    ln: LNModel
    """The LN baseline fitted to the same windows."""
    log: dict
    """The CNN's training log (:func:`train_model`)."""
    evaluation: xr.Dataset
    """Both models on the held-out data (:func:`evaluate_recording`)."""

    def summary(self) -> str:
        """A few lines for the command line: the files, the training and both models' scores."""
        log = self.log
        return "\n".join(
            [
                f"wrote {self.folder}: CNN {len(log['train_loss'])} epochs (best {log['best_epoch']}"
                f"{', stopped early' if log['stopped_early'] else ''}, {sum(log['epoch_seconds']):.0f} s), LN baseline",
                recording_table(self.evaluation),
            ]
        )


def train_recording(
    stimulus: xr.DataArray,
    spikes: xr.DataArray,
    output_dir: str | Path,
    *,
    held_out: HeldOut | None = None,
    history_s: float = HISTORY_S,
    settings: TrainingSettings | None = None,
    resume: bool = True,
    device: str = "cpu",
    progress: bool = True,
) -> RecordingResult:
    """Fit the CNN and the LN baseline to a recording's spikes and evaluate both on held-out data.

    Parameters
    ----------
    stimulus : xarray.DataArray
        (time, y, x) contrast (e.g. ``read_nwb(...)["stimulus"]``).
    spikes : xarray.DataArray
        (time, cell) spike counts per frame. ``y``/``x`` cell coords (px), where present, seed the
        CNN's readout; otherwise the LN fit's STA peaks do.
    output_dir : str or path
        Folder for the models and ``evaluation.nc``; an interrupted CNN run resumes.
    held_out : HeldOut, optional
        The fraction held out at the end and the repeats of a frozen segment (default
        :class:`HeldOut`: the last 10 %, repeats found by identical frames).
    history_s : float
        Stimulus history (s) the models see.
    settings : TrainingSettings, optional
        CNN training settings; :func:`recording_settings` with :func:`epochs_for` epochs by default.
    resume, device, progress
        As for :func:`train_model`.

    Returns
    -------
    RecordingResult
        The models and their evaluation (draw it with
        :func:`retinacodec.plots.model_fit.plot_recording_fit`).

    Raises
    ------
    RetinaCodecError
        For a recording :func:`check_recording` refuses, or training stretches too short.
    """
    check_recording(stimulus, spikes)
    architecture = recording_architecture(stimulus, history_s)
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    history = architecture["history"]
    windows = RECORDING_SETTINGS["segment_windows"] if settings is None else settings.segment_windows
    held_out = held_out or HeldOut()
    split = split_recording(
        stimulus,
        spikes,
        held_out.fraction,
        repeat_start=held_out.repeat_start,
        repeat_frames=held_out.repeat_frames,
        min_frames=history + 2 * windows,
    )
    n_windows = sum(part.sizes["time"] - history + 1 for part, _ in split.train)
    settings = settings or recording_settings(epochs=epochs_for(n_windows, int(stimulus.sizes["y"])))
    if not split.train:
        raise RetinaCodecError(
            "no stretch of the recording outside the repeats and the held-out end is long "
            "enough to train on; expected a longer recording"
        )
    rate = float(stimulus.attrs["frame_rate_hz"])
    stimuli = [part for part, _ in split.train]
    rates = [(counts * rate).astype(np.float32) for _, counts in split.train]
    ln = _baseline(folder / "ln" / CHECKPOINT_NAME, stimuli, rates, history, settings, resume)
    if not {"y", "x"} <= set(spikes.coords):
        rates = [r.assign_coords(y=("cell", ln.cell_position[:, 0]), x=("cell", ln.cell_position[:, 1])) for r in rates]
    cnn, log = train_model(
        stimuli,
        rates,
        architecture=architecture,
        settings=settings,
        output_dir=folder / "cnn",
        resume=resume,
        name="cnn",
        device=device,
        progress=progress,
    )
    evaluation = evaluate_recording({"cnn": cnn, "ln": ln}, split.heldout, split.repeat_stimulus, split.repeats)
    write_netcdf(evaluation, folder / "evaluation.nc")
    return RecordingResult(folder, cnn, ln, log, evaluation)


def _baseline(
    path: Path, stimuli: list, rates: list, history: int, settings: TrainingSettings, resume: bool
) -> LNModel:
    """The LN baseline: read back from ``path`` when a previous run fitted it to the same data, else
    fitted (:func:`train_ln`) and written."""
    identity = {
        "data": _fingerprint(stimuli, rates),
        "history": history,
        "validation_fraction": settings.validation_fraction,
    }
    if resume and path.is_file():
        payload = load_checkpoint(path)
        if payload.get("identity") == identity:
            fitted = model_from_checkpoint(payload)
            if isinstance(fitted, LNModel):  # as written below
                return fitted.eval()
    ln = train_ln(stimuli, rates, history, settings, name="ln")
    save_checkpoint({"config": ln.config(), "state_dict": ln.state_dict(), "identity": identity}, path)
    return ln


def train_nwb(
    path: str | Path,
    output_dir: str | Path,
    *,
    stimulus: str | None = None,
    selection: NWBSelection | None = None,
    history_s: float = HISTORY_S,
    resume: bool = True,
    device: str = "cpu",
    progress: bool = True,
    cell_types: TypeLabels | None = None,
) -> RecordingResult:
    """:func:`train_recording` on an NWB recording (:func:`retinacodec.io.read_nwb`).

    Repeats come from the file's trials (or ``repeats``) table when it has one, else from
    identical stretches of frames. Unit columns ``y`` and ``x`` (px), where present, seed the
    CNN's readout. ``selection`` (:class:`retinacodec.io.NWBSelection`) chooses the stimulus,
    epochs and units; ``stimulus``, when given, names the stimulus instead. The models' cell types
    are the units' functional types, unless ``cell_types`` or a ``cell_type`` column give labels
    (:func:`retinacodec.models.cell_types.type_units`).
    """
    from ...io import NWBSelection

    selection = selection or NWBSelection()
    if stimulus is not None:
        selection = replace(selection, stimulus=stimulus)
    recording = selection.read(path)
    spikes = recording["spikes"]
    if {"cell_y", "cell_x"} <= set(spikes.coords):
        spikes = spikes.rename({"cell_y": "y", "cell_x": "x"})
    types = type_units(recording["stimulus"], spikes, cell_types)["cell_type"].values.astype(str)
    spikes = spikes.assign_coords(cell_type=("cell", types))
    starts, frames = None, 0
    if "repeat_start" in recording:
        starts, frames = recording["repeat_start"].values, int(recording["repeat_start"].attrs["repeat_frames"])
    return train_recording(
        recording["stimulus"],
        spikes,
        output_dir,
        held_out=HeldOut(repeat_start=starts, repeat_frames=frames),
        history_s=history_s,
        resume=resume,
        device=device,
        progress=progress,
    )
