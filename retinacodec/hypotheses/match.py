"""Which interneuron pathway of the virtual retina a set of CNN channels stands for, and which drug
would block it.

The match is representational (activity against activity), never causal, so that scoring the causal
predictions against blocks of the matched pathway is not circular.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PATHWAY_NAMES = {
    "bipolar_on_sustained": "ON sustained bipolar",
    "bipolar_off_sustained": "OFF sustained bipolar",
    "bipolar_on_transient": "ON transient bipolar",
    "bipolar_off_transient": "OFF transient bipolar",
    "amacrine_narrow": "narrow-field amacrine",
    "amacrine_wide": "wide-field amacrine",
}
"""Plain names of the virtual retina's pathways."""
CELL_TYPE_NAMES = {"on": "ON", "off": "OFF", "on_off": "ON-OFF", "oms": "OMS"}
"""Plain names of the virtual retina's ganglion cell types (others are shown as they are)."""


def pathway_correlation(channel_activity: np.ndarray, pathway_activity: np.ndarray,
                        channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
    """Pearson correlation of each channel set's summed activity with each pathway's activity.

    Parameters
    ----------
    channel_activity : numpy.ndarray
        (time, channel, position) CNN layer output at the cells' positions.
    pathway_activity : numpy.ndarray
        (time, pathway, position) interneuron activity at the same times and positions.
    channel_sets : sequence of sequence of int
        The channels of each set.

    Returns
    -------
    numpy.ndarray
        (set, pathway) correlations in [-1, 1]; 0 where either side is constant.

    Notes
    -----
    A set's activity is :math:`a_S(t, p) = \\sum_{c \\in S} a_c(t, p)`; the correlation pools all
    (time, position) pairs: :math:`\\rho = \\operatorname{corr}_{t,p}(a_S, v_k)` for pathway
    :math:`k` with activity :math:`v_k(t, p)`.
    """
    summed = np.stack([channel_activity[:, list(s)].sum(axis=1).ravel() for s in channel_sets])
    pathways = np.moveaxis(pathway_activity, 1, 0).reshape(pathway_activity.shape[1], -1)
    return _standardised(summed) @ _standardised(pathways).T / summed.shape[1]


def _standardised(rows: np.ndarray) -> np.ndarray:
    centred = rows - rows.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


def drugs_for(pathway: str, retina) -> tuple[str, str]:
    """The drugs of :data:`retinacodec.models.virtual_retina.DRUGS` that block a pathway.

    Parameters
    ----------
    pathway : str
        A pathway of the virtual retina.
    retina : VirtualRetina
        Resolves drugs and pathways into connections.

    Returns
    -------
    drugs : str
        The drugs whose blocked connections include all of the pathway's outputs, fewest extra
        connections first, those tied joined by " or "; "" when none does.
    also_blocks : str
        The other pathways (plain names) the chosen drugs block as well; "" when they block the
        pathway alone.
    """
    from ..models.virtual_retina import DRUGS

    own = set(retina.resolve(pathway))
    extra = {drug: set(retina.resolve(drug)) - own for drug in DRUGS if own <= set(retina.resolve(drug))}
    if not extra:
        return "", ""
    fewest = min(len(blocked) for blocked in extra.values())
    chosen = [drug for drug, blocked in extra.items() if len(blocked) == fewest]
    blocked = retina.connections["source"].sel(connection=sorted(extra[chosen[0]])).values
    sources = dict.fromkeys(str(source) for source in blocked)
    return " or ".join(chosen), ", ".join(PATHWAY_NAMES.get(s, s) for s in sources)


def type_name(cell_type: str) -> str:
    """Plain name of a ganglion cell type."""
    return CELL_TYPE_NAMES.get(cell_type, cell_type)

