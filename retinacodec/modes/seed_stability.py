"""Stability of SAE modes across seeds (``retinacodec.modes.stability``): do other fits find them?

CODEC's hyper-parameter sweep reports it (``compute_stability`` with
``metrics.cosine_hungarian_loss`` in the paper's code): each mode's cosine with its partner in
the best one-to-one match with another seed's modes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import RetinaCodecError
from .planted import matched_cosines
from .sae import SAE


def stability(X, seeds: Sequence[int] = (0, 1, 2), **sae_params) -> xr.Dataset:
    """Fit an SAE with each seed and score how well every fit's modes recur in the others.

    Parameters
    ----------
    X : numpy.ndarray, xarray.DataArray or xarray.Dataset
        Training input, as for :meth:`SAE.fit`.
    seeds : sequence of int
        At least two distinct seeds, one fit each.
    **sae_params
        Other parameters of :class:`~retinacodec.modes.sae.SAE` (not ``seed``).

    Returns
    -------
    xarray.Dataset
        ``stability`` (seed, mode): a mode's matched cosine (see :func:`fit_stability`) averaged
        over the other seeds' fits, NaN for dead modes; ``pairwise`` (seed, other_seed): mean
        matched cosine of one fit's live modes in another fit; ``mean_stability`` (seed): mean of
        ``stability`` over live modes; scalar ``overall_stability``: mean over all live modes of
        all fits. Cosines are in [0, 1] for non-negative modes (1: the same direction).

    Raises
    ------
    RetinaCodecError
        For fewer than two distinct seeds, or ``seed`` among the parameters.
    """
    seeds = [int(seed) for seed in seeds]
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds):
        raise RetinaCodecError(f"seeds={seeds}; expected at least two distinct seeds")
    if "seed" in sae_params:
        raise RetinaCodecError("pass the seeds as seeds=..., not seed=")
    fits = [SAE(seed=seed, **sae_params).fit(X) for seed in seeds]
    pairwise = np.full((len(fits), len(fits)), np.nan)
    scores = np.empty((len(fits), len(fits[0].dead_modes_)))
    for i, fit in enumerate(fits):
        others = [j for j in range(len(fits)) if j != i]
        cosines = np.stack([_matched(fit, fits[j]) for j in others])  # (other, mode)
        pairwise[i, others] = np.nanmean(cosines, axis=1)
        scores[i] = cosines.mean(0)
    return xr.Dataset(
        {
            "stability": (("seed", "mode"), scores),
            "pairwise": (("seed", "other_seed"), pairwise),
            "mean_stability": ("seed", np.nanmean(scores, axis=1)),
            "overall_stability": float(np.nanmean(scores)),
        },
        coords={"seed": seeds, "other_seed": seeds, "mode": np.arange(scores.shape[1])},
        attrs={"sae_params": json.dumps(fits[0].get_params())},
    )


def fit_stability(fit: SAE, others: Sequence[SAE]) -> np.ndarray:
    """Each mode's matched cosine with the modes of other fits, averaged over the other fits.

    Parameters
    ----------
    fit : SAE
        A fitted SAE whose modes are scored.
    others : sequence of SAE
        Fits of the same input with other seeds (at least one).

    Returns
    -------
    numpy.ndarray
        (mode,) in [-1, 1] (in [0, 1] for non-negative modes); NaN for ``fit``'s dead modes.

    Notes
    -----
    Dead modes (never active on the training input) take part in no match. Between the live
    modes of ``fit`` (rows) and those of another fit, the one-to-one match that maximises the
    summed cosine is found (Hungarian algorithm); a mode's score with that fit is the cosine with
    its partner, 0 when the other fit has fewer live modes and it got none.
    """
    if not others:
        raise RetinaCodecError("got no other fits; expected at least one SAE fitted with another seed")
    return np.mean(np.stack([_matched(fit, other) for other in others]), axis=0)


def _matched(fit: SAE, other: SAE) -> np.ndarray:
    """(mode,) matched cosines of ``fit``'s live modes with ``other``'s live modes; NaN where dead."""
    live, other_live = ~fit.dead_modes_, ~other.dead_modes_
    scores = np.full(len(live), np.nan)
    if live.any():
        modes, other_modes = np.asarray(fit.modes_), np.asarray(other.modes_)
        scores[live] = matched_cosines(modes[live], other_modes[other_live]) if other_live.any() else 0.0
    return scores
