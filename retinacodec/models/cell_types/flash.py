"""Responses to full-field flashes: step responses at light onset and offset (Baden et al. 2016 style).

A recording whose stimulus is a flash protocol (full field, at most :data:`MAX_LEVELS` contrast
levels, changing on at most :data:`MAX_CHANGE_SHARE` of the frames, with at least two light and two
dark steps) is typed from these responses instead of a spike-triggered average: the excess of
spikes in the :data:`WINDOW_S` after each light (ON) and dark (OFF) step over the same time before
it, in Poisson standard deviations, and how much of the early excess remains in the next window.
"""

from __future__ import annotations

import numpy as np

MAX_LEVELS = 3
"""Most distinct contrast levels of a flash protocol."""
MAX_CHANGE_SHARE = 0.05
"""Largest share of frames on which a flash protocol's contrast changes."""
WINDOW_S = 0.3
"""Response window after each step, and baseline window before it (s)."""


def is_flash_protocol(signal: np.ndarray) -> bool:
    """Whether a full-field contrast time course (time,) is a flash protocol (see module docstring)."""
    values = np.asarray(signal)
    if np.unique(values).size > MAX_LEVELS:
        return False
    change = np.diff(values)
    return bool(np.mean(change != 0) <= MAX_CHANGE_SHARE and (change > 0).sum() >= 2 and (change < 0).sum() >= 2)


def _excess(counts: np.ndarray, steps: np.ndarray, window: int, offset: int = 0) -> tuple[float, float]:
    """(spikes after - spikes before, Poisson z) summed over ``steps``, the after-window starting
    ``offset`` frames after each step."""
    keep = steps[(steps - window >= 0) & (steps + offset + window <= counts.size)]
    before = sum(counts[s - window : s].sum() for s in keep)
    after = sum(counts[s + offset : s + offset + window].sum() for s in keep)
    spread = np.sqrt(before + after)
    return float(after - before), float((after - before) / spread) if spread > 0 else 0.0


def flash_evidence(signal: np.ndarray, counts: np.ndarray, rate_hz: float) -> dict:
    """Index values of one unit from its responses to light and dark steps.

    Returns
    -------
    dict
        ``n_spikes``; ``peak_z`` and ``polarity`` of the larger step response (+1 light, -1 dark);
        ``on_off_index`` (weaker / larger excess, both above zero, else 0) and ``opposite_z`` (the
        weaker response's z); ``transience_index``, 1 - (excess in the second window / excess in
        the first) of the larger response; ``peak_lag_s`` and ``biphasic_index`` NaN (no filter).
    """
    window = max(1, int(round(WINDOW_S * rate_hz)))
    change = np.diff(np.asarray(signal, dtype=np.float64))
    on_steps, off_steps = np.flatnonzero(change > 0) + 1, np.flatnonzero(change < 0) + 1
    responses = [_excess(counts, steps, window) for steps in (on_steps, off_steps)]
    larger = int(responses[1][1] > responses[0][1])
    (big, big_z), (small, small_z) = responses[larger], responses[1 - larger]
    late, _ = _excess(counts, (on_steps, off_steps)[larger], window, offset=window)
    return {
        "n_spikes": int(counts.sum()),
        "peak_z": big_z,
        "polarity": -1 if larger else 1,
        "peak_lag_s": float("nan"),
        "biphasic_index": float("nan"),
        "on_off_index": float(small / big) if big > 0 and small > 0 else 0.0,
        "opposite_z": small_z,
        "transience_index": float(1.0 - late / big) if big > 0 else float("nan"),
    }
