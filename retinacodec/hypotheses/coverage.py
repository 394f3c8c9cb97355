"""Which pathways of the reference circuit the tested hypotheses cover."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .match import PATHWAY_NAMES
from .score import _check_hypotheses

CONFIRMED = "confirmed"
"""The outcome that counts a pathway as named (a change predicted and seen, every type's sign right)."""


def pathway_coverage(tested: xr.Dataset, pathways: Sequence[str]) -> xr.Dataset:
    """Per pathway: how many hypotheses name it, how many of those are confirmed.

    Parameters
    ----------
    tested : xarray.Dataset
        Tested hypotheses (:func:`~retinacodec.hypotheses.score.test`).
    pathways : sequence of str
        Every pathway of the reference circuit (e.g. ``VirtualRetina`` ``PATHWAYS``).

    Returns
    -------
    xarray.Dataset
        Over ``pathway``: ``name`` (plain name), ``n_hypotheses``, ``n_confirmed`` (outcome
        "confirmed": every cell type predicted or seen to change did so with the predicted sign;
        "confirmed (no change)" does not count, as it shows no effect of the pathway),
        ``covered`` (bool: at least one confirmed), ``best_agreement`` (largest type agreement
        among its hypotheses, NaN when none names it); attr ``n_covered``.
    """
    _check_hypotheses(tested, ("block", "outcome", "type_agreement"))
    blocks = np.asarray(tested["block"].values, dtype=str)
    outcomes = np.asarray(tested["outcome"].values, dtype=str)
    agreement = np.asarray(tested["type_agreement"].values, dtype=float)
    names = [str(p) for p in pathways]
    counts = np.array([(blocks == p).sum() for p in names])
    confirmed = np.array([((blocks == p) & (outcomes == CONFIRMED)).sum() for p in names])
    best = np.array([agreement[blocks == p].max() if (blocks == p).any() else np.nan for p in names])
    return xr.Dataset(
        {
            "name": ("pathway", [PATHWAY_NAMES.get(p, p) for p in names]),
            "n_hypotheses": ("pathway", counts),
            "n_confirmed": ("pathway", confirmed),
            "covered": ("pathway", confirmed > 0),
            "best_agreement": ("pathway", best),
        },
        coords={"pathway": names},
        attrs={"n_covered": int((confirmed > 0).sum()), "n_pathways": len(names)},
    )
