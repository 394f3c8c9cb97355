"""Simulated recordings written the way a rig writes them: the virtual retina behind a screen.

The frames are stored as 8-bit luminance with a ``conversion`` to cd/m², the frame times as
``timestamps`` (with a photodiode's sub-millisecond jitter), the spikes as spike times in the
units table and nothing else: no cell types, no positions, no rates. Used by the ``recording``
benchmark and by the tests of training from recordings.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

LUMINANCE_PER_LEVEL = 0.5
"""cd/m² per stored 8-bit level (the ImageSeries ``conversion``)."""
MEAN_LEVEL = 100
"""Stored level of the mean luminance (50 cd/m²); contrast c is stored as 100 (1 + c)."""
SIMULATION_RATE_HZ = 100.0
"""The virtual retina's time step (10 ms)."""


def white_noise_frames(minutes: float, seed: int, size: int = 50) -> xr.DataArray:
    """Binary white noise of 2 px checks, contrast 0.4, 100 Hz (the issue's training stimulus)."""
    from ..stimuli.white_noise import white_noise

    return white_noise(
        n_frames=int(round(minutes * 6000)), size=size, block_size=2, contrast=0.4, distribution="binary", seed=seed
    )


def full_field_sequence(
    minutes: float,
    seed: int,
    frame_rate_hz: float = 75.0,
    contrast: float = 0.3,
    n_repeats: int = 20,
    repeat_s: float = 8.0,
) -> tuple[np.ndarray, list[int], int]:
    """Gaussian full-field flicker with ``n_repeats`` copies of one frozen segment interleaved.

    Returns
    -------
    contrast : numpy.ndarray
        (frames,) contrast of each frame, clipped to [-1, 1].
    starts : list of int
        First frame of each frozen repeat.
    length : int
        Frames per repeat.
    """
    rng = np.random.default_rng(seed)
    total = int(round(minutes * 60 * frame_rate_hz))
    length = int(round(repeat_s * frame_rate_hz)) if n_repeats else 0
    frozen = rng.normal(0.0, contrast, length)
    unique = (total - n_repeats * length) // max(n_repeats, 1)
    pieces, starts, position = [], [], 0
    for _ in range(max(n_repeats, 1)):
        pieces.append(rng.normal(0.0, contrast, unique))
        position += unique
        if n_repeats:
            pieces.append(frozen)
            starts.append(position)
            position += length
    pieces.append(rng.normal(0.0, contrast, total - position))
    return np.clip(np.concatenate(pieces), -1.0, 1.0), starts, length


def _levels(contrast: np.ndarray) -> np.ndarray:
    return np.clip(np.round(MEAN_LEVEL * (1.0 + contrast)), 0, 255).astype(np.uint8)


def _spike_times(counts: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Spike times (s) uniformly spread inside each 10 ms simulation bin."""
    trains = []
    for cell in range(counts.shape[1]):
        bins = np.repeat(np.arange(counts.shape[0]), counts[:, cell])
        trains.append(np.sort((bins + rng.random(bins.size)) / SIMULATION_RATE_HZ))
    return trains


def write_rig_nwb(
    path: str | os.PathLike,
    levels: np.ndarray,
    frame_rate_hz: float,
    spike_times: list[np.ndarray],
    seed: int = 0,
    trials: list[tuple[float, float]] | None = None,
) -> Path:
    """Write 8-bit frames (time, y, x), their timestamps and spike times as a rig does (pynwb).

    Parameters
    ----------
    path : str or path-like
        Destination NWB file.
    levels : numpy.ndarray
        uint8 (time, y, x) stored levels; luminance = level x :data:`LUMINANCE_PER_LEVEL` cd/m².
    frame_rate_hz : float
        Nominal frame rate; timestamps are ``k / frame_rate_hz`` plus up to 0.1 ms jitter.
    spike_times : list of numpy.ndarray
        Spike times (s) per unit.
    seed : int
        Seed of the timestamp jitter.
    trials : list of (start, stop), optional
        Rows of an NWB trials table (s), e.g. the frozen repeats.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.image import ImageSeries

    rng = np.random.default_rng(seed)
    times = np.arange(levels.shape[0]) / frame_rate_hz + rng.uniform(0, 1e-4, levels.shape[0])
    nwbfile = NWBFile(
        session_description="simulated rig recording (virtual retina)",
        identifier=f"rig-{seed}",
        session_start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    nwbfile.add_stimulus(
        ImageSeries(
            name="stimulus",
            data=np.ascontiguousarray(levels.transpose(0, 2, 1)),
            unit="cd/m^2",
            conversion=LUMINANCE_PER_LEVEL,
            timestamps=times,
            description="monitor luminance, 8-bit levels",
        )
    )
    for index, train in enumerate(spike_times):
        nwbfile.add_unit(spike_times=train, id=index)
    for start, stop in trials or []:
        nwbfile.add_trial(start_time=float(start), stop_time=float(stop))
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def record_white_noise(path: str | os.PathLike, minutes: float, seed: int = 0, size: int = 50, retina=None) -> Path:
    """The virtual retina's 20 cells under ``minutes`` of binary white noise, written as a rig would.

    The retina sees 50 x 50 px; a smaller ``size`` records only the central size x size px (the
    part of the screen a short test keeps; the cells sit near the centre).

    Returns
    -------
    pathlib.Path
        The NWB file: 100 Hz uint8 frames with timestamps and Poisson spike times of unit ids 0..19
        (the virtual retina's cells in order).
    """
    from ..models.virtual_retina import VirtualRetina

    retina = retina or VirtualRetina()
    stimulus = white_noise_frames(minutes, seed)
    counts = retina.respond(stimulus, seed=seed + 1)["spikes"].values
    corner = (stimulus.sizes["y"] - size) // 2
    shown = stimulus.values[:, corner : corner + size, corner : corner + size]
    return write_rig_nwb(
        path, _levels(shown), SIMULATION_RATE_HZ, _spike_times(counts, np.random.default_rng(seed + 2)), seed
    )


def record_full_field(
    path: str | os.PathLike,
    minutes: float,
    seed: int = 0,
    n_repeats: int = 20,
    repeat_s: float = 8.0,
    frame_rate_hz: float = 75.0,
    trials_table: bool = False,
    retina=None,
) -> tuple[Path, list[int], int]:
    """Full-field Gaussian flicker (contrast 0.3) stored as 1 x 1 frames, with frozen repeats.

    The virtual retina sees the flicker on its 10 ms grid (each 100 Hz step shows the frame on
    screen at that time) over its full 50 x 50 px field.

    Returns
    -------
    (path, repeat starts (frames), repeat length (frames))
    """
    from ..models.virtual_retina import VirtualRetina
    from ..stimuli.base import make_stimulus

    retina = retina or VirtualRetina()
    contrast, starts, length = full_field_sequence(minutes, seed, frame_rate_hz, 0.3, n_repeats, repeat_s)
    shown = _levels(contrast)
    steps = np.arange(int(len(contrast) * SIMULATION_RATE_HZ / frame_rate_hz))
    on_screen = shown[np.minimum((steps * frame_rate_hz / SIMULATION_RATE_HZ).astype(int), len(shown) - 1)]
    values = (on_screen.astype(np.float32) / MEAN_LEVEL - 1.0)[:, None, None]
    frames = make_stimulus(np.broadcast_to(values, (values.size, 50, 50)), kind="full_field")
    counts = retina.respond(frames, seed=seed + 1)["spikes"].values
    trials = [(s / frame_rate_hz, (s + length) / frame_rate_hz) for s in starts] if trials_table else None
    written = write_rig_nwb(
        path, shown[:, None, None], frame_rate_hz, _spike_times(counts, np.random.default_rng(seed + 2)), seed, trials
    )
    return written, starts, length
