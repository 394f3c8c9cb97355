"""Indices of a unit's temporal filter and of its responses to both stimulus polarities.

Pure functions on arrays, so that each can be checked on an analytic filter (pyret's style):
:func:`dominant_lobe`, :func:`biphasic_index`, :func:`polarity_z` and :func:`tail_responses`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import RetinaCodecError


def _course(filter_: np.ndarray) -> np.ndarray:
    course = np.asarray(filter_, dtype=np.float64)
    if course.ndim != 1 or course.size < 2 or not np.isfinite(course).all():
        raise RetinaCodecError(
            f"filter has shape {course.shape} or non-finite values; expected a finite 1-D time course "
            "(lag 0 first) of at least two lags"
        )
    return course


def dominant_lobe(filter_: np.ndarray) -> tuple[int, float]:
    """(lag index, value) of the filter's largest absolute value: its dominant lobe.

    Parameters
    ----------
    filter_ : numpy.ndarray
        (lag,) time course, lag 0 (the frame of the spike) first.
    """
    course = _course(filter_)
    lag = int(np.argmax(np.abs(course)))
    return lag, float(course[lag])


def biphasic_index(filter_: np.ndarray) -> float:
    r"""Ratio of the filter's second lobe to its first (dominant) one, in [0, inf).

    Parameters
    ----------
    filter_ : numpy.ndarray
        (lag,) time course, lag 0 (the frame of the spike) first.

    Returns
    -------
    float
        0 for a monophasic filter; near 1 for a band-pass one whose second lobe is as deep as the
        first; NaN for an all-zero filter.

    Notes
    -----
    With :math:`a_1 = k(\tau_1)` the dominant lobe (:func:`dominant_lobe`), the second lobe is the
    largest excursion of opposite sign at longer lags, :math:`a_2 = \max(0, \max_{\tau > \tau_1}
    -\mathrm{sign}(a_1)\, k(\tau))`, and the index is :math:`a_2 / |a_1|` (the biphasic index of
    Chichilnisky & Kalmar 2002; a measure of transience).
    """
    lag, peak = dominant_lobe(filter_)
    if peak == 0:
        return float("nan")
    later = -np.sign(peak) * _course(filter_)[lag + 1 :]
    return float(max(0.0, later.max(initial=0.0)) / abs(peak))


def polarity_z(filter_: np.ndarray, null: np.ndarray) -> tuple[int, float]:
    """Polarity (+1 ON, -1 OFF) of the dominant lobe and its size in noise units.

    Parameters
    ----------
    filter_ : numpy.ndarray
        (lag,) causal time course of the spike-triggered average.
    null : numpy.ndarray
        Values of the same average where it carries no signal (acausal lags: stimulus frames after
        the spike); their root mean square is the noise level.

    Returns
    -------
    (int, float)
        Sign of the dominant lobe, and ``|lobe| / rms(null)`` (inf when the null is all zero).
    """
    _, peak = dominant_lobe(filter_)
    noise = float(np.sqrt(np.mean(np.square(np.asarray(null, dtype=np.float64)))))
    size = abs(peak) / noise if noise > 0 else float("inf")
    return int(np.sign(peak)), size


@dataclass(frozen=True)
class TailResponses:
    """A unit's rate at both ends of its generator signal, relative to its mean rate.

    ``preferred`` is the tail with the larger rate: a linear-rectifying cell fires above its mean
    there and below it in the ``opposite`` tail; a cell that responds to both polarities (ON-OFF)
    fires above its mean in both.
    """

    preferred: float
    """Rate where the generator signal is beyond +1 SD of the preferred side, / mean rate."""
    opposite: float
    """Rate where it is beyond 1 SD on the other side, / mean rate."""
    opposite_z: float
    """Excess of spikes in the opposite tail in Poisson standard deviations, (N - E) / sqrt(E)."""

    @property
    def on_off_index(self) -> float:
        """(opposite - 1) / (preferred - 1): 1 for a symmetric ON-OFF cell, 0 or below for a cell
        that responds to one polarity; 0 when the preferred tail is not above the mean."""
        if self.preferred <= 1:
            return 0.0
        return float(np.clip((self.opposite - 1) / (self.preferred - 1), -1.0, 1.0))


def tail_responses(generator: np.ndarray, counts: np.ndarray) -> TailResponses:
    """Rates of a unit in the two tails (beyond 1 SD) of a generator signal.

    Parameters
    ----------
    generator : numpy.ndarray
        (window,) stimulus history projected on a filter of the unit.
    counts : numpy.ndarray
        (window,) the unit's spike counts at the same windows.

    Returns
    -------
    TailResponses
    """
    g = np.asarray(generator, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    mean = n.mean()
    spread = g.std()
    if mean <= 0 or spread <= 0:
        return TailResponses(1.0, 1.0, 0.0)
    g = (g - g.mean()) / spread
    tails = [g > 1, g < -1]
    ratios = [n[t].mean() / mean if t.any() else 1.0 for t in tails]
    opposite = int(np.argmin(ratios))
    expected = tails[opposite].sum() * mean
    excess = (n[tails[opposite]].sum() - expected) / np.sqrt(expected) if expected > 0 else 0.0
    return TailResponses(float(max(ratios)), float(ratios[opposite]), float(excess))
