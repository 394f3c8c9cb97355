"""Which interneuron pathway of the virtual retina a set of CNN channels stands for, and which drug
would block it.

The match is representational (activity against activity, on a held-out stimulus), never causal, so
that scoring the causal predictions against blocks of the matched pathway is not circular.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..layer_interventions import LayerRecording, activity_at
from ..metrics import correlation_matrix, standardised

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


MATCHES = ("partial", "correlation")
"""How a channel set is matched to a pathway: the pathway it uniquely follows (largest partial
correlation, the other pathways held fixed), or the one it is most correlated with."""


def _set_activity(channel_activity: np.ndarray, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
    """(set, time x position) summed activity of each channel set."""
    return np.stack([channel_activity[:, list(s)].sum(axis=1).ravel() for s in channel_sets])


def _pathway_rows(pathway_activity: np.ndarray) -> np.ndarray:
    return np.moveaxis(pathway_activity, 1, 0).reshape(pathway_activity.shape[1], -1)


def pathway_partial_correlation(channel_activity: np.ndarray, pathway_activity: np.ndarray,
                                channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
    r"""Partial correlation of each channel set's summed activity with each pathway's activity,
    the other pathways held fixed: what the set follows of a pathway and of no other.

    Parameters
    ----------
    channel_activity, pathway_activity, channel_sets
        As for :func:`pathway_correlation`.

    Returns
    -------
    numpy.ndarray
        (set, pathway) partial correlations in [-1, 1]; 0 for a constant set.

    Notes
    -----
    Pathways' activities are correlated with each other (under natural jitter the ON sustained
    bipolar and the narrow-field amacrine it drives correlate at about 0.95), so the plain
    correlation names whichever pathway a set shares most variance with. The partial correlation
    of set :math:`s` with pathway :math:`k` is the correlation of the residuals of both after a
    least-squares regression on the other pathways (projections onto their span, by QR); its sign
    is that of the set's coefficient in the
    multiple regression of the set's activity on all pathways.
    """
    pathways = standardised(_pathway_rows(pathway_activity).T).T
    summed = standardised(_set_activity(channel_activity, channel_sets).T).T
    result = np.zeros((summed.shape[0], pathways.shape[0]))
    for k in range(pathways.shape[0]):
        basis = np.linalg.qr(np.delete(pathways, k, axis=0).T)[0]  # (time x position, others)
        own = pathways[k] - basis @ (basis.T @ pathways[k])
        residuals = summed - (summed @ basis) @ basis.T
        scale = np.linalg.norm(residuals, axis=1) * np.linalg.norm(own)
        result[:, k] = np.divide(residuals @ own, scale, out=np.zeros(len(scale)), where=scale > 1e-9 * own.size)
    return np.clip(result, -1.0, 1.0)


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
    summed = _set_activity(channel_activity, channel_sets)
    pathways = _pathway_rows(pathway_activity)
    return correlation_matrix(summed.T, pathways.T, constant=0.0)


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



@dataclass
class PathwayMatch:
    """A layer's channels and the virtual retina's pathways, recorded at the cells' positions on
    one stimulus, ready to match channel sets to pathways."""

    channel_activity: np.ndarray
    """(time, channel, position) CNN layer output."""
    pathway_activity: np.ndarray
    """(time, pathway, position) interneuron activity at the same times and positions."""
    pathways: list[str]
    """Pathway names, in the order of ``pathway_activity``."""

    @classmethod
    def of(cls, recording: LayerRecording, retina, progress: bool = False) -> PathwayMatch:
        """Record both sides on the recording's stimulus, at every position a cell of ``retina`` sits."""
        cells = retina.cells
        positions = np.unique(np.stack([cells["y"].values, cells["x"].values], axis=1), axis=0)
        stimulus = recording.stimulus
        activity = retina.interneuron_activity(stimulus, positions=positions, progress=progress)
        activity = activity.sel(time=recording.rates["time"].values).transpose("time", "pathway", "position")
        return cls(activity_at(recording, positions), activity.values, [str(p) for p in activity["pathway"].values])

    def correlation(self, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """(set, pathway) :func:`pathway_correlation`."""
        return pathway_correlation(self.channel_activity, self.pathway_activity, channel_sets)

    def partial(self, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """(set, pathway) :func:`pathway_partial_correlation`."""
        return pathway_partial_correlation(self.channel_activity, self.pathway_activity, channel_sets)

    def best(self, channel_sets: Sequence[Sequence[int]], match: str = "partial") -> list[str]:
        """The pathway each set is matched to: largest partial correlation or correlation (:data:`MATCHES`)."""
        values = self.partial(channel_sets) if match == "partial" else self.correlation(channel_sets)
        return [self.pathways[int(b)] for b in values.argmax(axis=1)]
