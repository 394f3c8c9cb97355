"""Training data: checked stimulus/response pairs, normalised and split into training windows and a
validation stretch, and the mini-batches drawn from them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from ...errors import RetinaCodecError
from ...stimuli.base import validate_stimulus
from ..ln import LNModel
from ..retina_cnn import RetinaCNN
from .settings import TrainingSettings


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
            stim.attrs["frame_rate_hz"], first.attrs["frame_rate_hz"]
        ):
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
            raise RetinaCodecError(f"responses {index} holds negative or non-finite rates; expected rates >= 0 Hz")
        cells = resp.sizes["cell"] if cells is None else cells
        if resp.sizes["cell"] != cells:
            raise RetinaCodecError(f"responses {index} has {resp.sizes['cell']} cells; expected {cells} like the first")
    return stimuli, [resp.transpose("time", "cell") for resp in responses]


def _cell_metadata(responses: xr.DataArray) -> tuple[list[str], np.ndarray]:
    """Cell types and [y, x] positions (px) from a response's cell coords, where present."""
    n_cells = responses.sizes["cell"]
    cell_type = (
        [str(t) for t in responses["cell_type"].values] if "cell_type" in responses.coords else ["unknown"] * n_cells
    )
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


def _recordings(stimuli, responses, model: RetinaCNN | LNModel, settings: TrainingSettings, device) -> list[_Recording]:
    """Split every recording and normalise it with the training frames' mean and std (stored
    in ``model``)."""
    history = model.history
    splits = [_split(stim.sizes["time"], history, settings, i) for i, stim in enumerate(stimuli)]
    count = total = squares = 0.0
    for stim, (n_train, _) in zip(stimuli, splits):
        training = np.asarray(stim.values[: n_train + history - 1], dtype=np.float64)
        count, total, squares = count + training.size, total + training.sum(), squares + (training**2).sum()
    mean = total / count
    model.set_normalisation(mean, float(np.sqrt(max(squares / count - mean**2, 0.0))) or 1.0)
    recordings = []
    for stim, resp, (n_train, validation_start) in zip(stimuli, responses, splits):
        frames = torch.as_tensor(np.asarray(stim.values, dtype=np.float32), device=device)
        frames = (frames - model.stimulus_mean) / model.stimulus_std
        rates = torch.as_tensor(np.asarray(resp.values, dtype=np.float32), device=device)
        recordings.append(_Recording(frames, rates[history - 1 :], n_train, validation_start))
    return recordings


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
    movies = torch.stack([recordings[r].frames[s : s + n_windows + history - 1] for r, s in pieces])
    targets = torch.stack([recordings[r].rates[s : s + n_windows] for r, s in pieces])
    return movies, targets


def find_repeats(frames: np.ndarray, frame_rate_hz: float, min_seconds: float = 1.0) -> tuple[np.ndarray, int]:
    """Repeats of a frozen stimulus segment, found as identical stretches of frames.

    Parameters
    ----------
    frames : numpy.ndarray
        (time, y, x) stimulus frames.
    frame_rate_hz : float
        Frame rate (Hz).
    min_seconds : float
        Shortest stretch (s) counted as a repeat.

    Returns
    -------
    starts : numpy.ndarray
        int64 first frame of each repeat, increasing (empty when nothing repeats).
    length : int
        Frames per repeat (the shortest occurrence), 0 when nothing repeats.

    Notes
    -----
    Every run of ``k`` = 0.25 s of frames is keyed by the bytes of its frames; a frame starts a
    repeated run where its key occurs as often as most repeated keys do (the number of repeats,
    so chance matches at a repeat's edges do not extend it). Consecutive such starts form an
    occurrence, and the occurrences whose first keys agree, at least two of them and each at
    least ``min_seconds`` long, are the repeats. Runs of one unchanging frame (a grey screen) are
    ignored.
    """
    n_frames = frames.shape[0]
    k = max(2, int(round(0.25 * frame_rate_hz)))
    if n_frames < 2 * k:
        return np.zeros(0, np.int64), 0
    flat = np.ascontiguousarray(frames.reshape(n_frames, -1))
    _, frame_id = np.unique(
        flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel(), return_inverse=True
    )
    keys = np.lib.stride_tricks.sliding_window_view(frame_id.astype(np.int64), k)
    constant = (keys == keys[:, :1]).all(1)
    window_keys = np.ascontiguousarray(keys).view(np.dtype((np.void, 8 * k))).ravel()
    _, window_id, counts = np.unique(window_keys, return_inverse=True, return_counts=True)
    repeated = (counts[window_id] > 1) & ~constant
    if not repeated.any():
        return np.zeros(0, np.int64), 0
    occurrences = np.bincount(counts[window_id][repeated]).argmax()  # the repeat count of most windows
    repeated &= counts[window_id] == occurrences
    edges = np.diff(np.concatenate([[0], repeated.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = stops - starts + k - 1
    keep = lengths >= min_seconds * frame_rate_hz
    starts, lengths = starts[keep], lengths[keep]
    if starts.size < 2:
        return np.zeros(0, np.int64), 0
    groups, members = np.unique(window_id[starts], return_counts=True)
    best = groups[np.argmax(members)]
    chosen = window_id[starts] == best
    if chosen.sum() < 2:
        return np.zeros(0, np.int64), 0
    return starts[chosen].astype(np.int64), int(lengths[chosen].min())
