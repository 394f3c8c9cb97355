"""Which interneuron pathway of the virtual retina a set of CNN channels stands for, and which drug
would block it.

The match is representational (activity against activity, on a held-out stimulus), never causal, so
that scoring the causal predictions against blocks of the matched pathway is not circular.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..control.recorded import LayerRecording, PassCache, activity_at, remembered, stimulus_key
from ..errors import RetinaCodecError
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


MATCHES = ("block", "partial", "correlation")
"""How a channel set is matched to a pathway: the block whose silenced activities it uniquely
follows (the pathway and the interneurons it excites, :func:`pathway_block_correlation`), the
pathway it uniquely follows (largest partial correlation, the other pathways held fixed), or the
one it is most correlated with."""


def _set_activity(channel_activity: np.ndarray, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
    """(set, time x position) summed activity of each channel set."""
    return np.stack([channel_activity[:, list(s)].sum(axis=1).ravel() for s in channel_sets])


def _pathway_rows(pathway_activity: np.ndarray) -> np.ndarray:
    return np.moveaxis(pathway_activity, 1, 0).reshape(pathway_activity.shape[1], -1)


def pathway_partial_correlation(
    channel_activity: np.ndarray, pathway_activity: np.ndarray, channel_sets: Sequence[Sequence[int]]
) -> np.ndarray:
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


def silenced_pathways(connections, pathways: Sequence[str]) -> list[tuple[int, ...]]:
    """For each pathway, the pathways a block of it silences or weakens: itself and every
    interneuron pathway it excites, directly or through others.

    Parameters
    ----------
    connections : xarray.Dataset
        The circuit's named connections (``VirtualRetina.connections``: ``source``, ``target``,
        ``sign`` along ``connection``).
    pathways : sequence of str
        The interneuron pathways, in the order of the activities.

    Returns
    -------
    list of tuple of int
        Per pathway, the positions in ``pathways`` of what its block takes away, its own first.

    Notes
    -----
    A block sets a pathway's outputs to zero. An interneuron that pathway excites loses that drive
    too (blocking ON bipolars with L-AP4 also silences the narrow-field amacrine they drive),
    while one it inhibits is released, not silenced; so only excitatory connections (sign > 0)
    between pathways are followed.
    """
    names = list(pathways)
    excites: dict[str, set[str]] = {name: set() for name in names}
    for source, target, sign in zip(
        connections["source"].values, connections["target"].values, connections["sign"].values
    ):
        if str(source) in excites and str(target) in excites and sign > 0:
            excites[str(source)].add(str(target))
    result = []
    for name in names:
        reached, frontier = [name], [name]
        while frontier:
            frontier = [t for f in frontier for t in sorted(excites[f]) if t not in reached]
            reached += list(dict.fromkeys(frontier))
        result.append(tuple(names.index(r) for r in reached))
    return result


def inhibitory_pathways(connections, pathways: Sequence[str]) -> list[str]:
    """The pathways that inhibit some cell: sources of a connection with sign < 0.

    Parameters
    ----------
    connections : xarray.Dataset
        The circuit's named connections (``VirtualRetina.connections``).
    pathways : sequence of str
        The interneuron pathways, in the order wanted.

    Returns
    -------
    list of str
        Those of ``pathways`` with an inhibitory output, in their order (the two amacrines of the
        virtual retina).
    """
    sources = {
        str(source) for source, sign in zip(connections["source"].values, connections["sign"].values) if sign < 0
    }
    return [str(p) for p in pathways if str(p) in sources]


def pathway_block_correlation(
    channel_activity: np.ndarray,
    pathway_activity: np.ndarray,
    channel_sets: Sequence[Sequence[int]],
    silenced: Sequence[Sequence[int]],
) -> np.ndarray:
    r"""Signed multiple partial correlation of each channel set's summed activity with the
    activities a block of each pathway silences, the other pathways held fixed.

    Parameters
    ----------
    channel_activity, pathway_activity, channel_sets
        As for :func:`pathway_correlation`.
    silenced : sequence of sequence of int
        Per pathway, the pathway positions its block silences (:func:`silenced_pathways`).

    Returns
    -------
    numpy.ndarray
        (set, pathway) values in [-1, 1]; 0 for a constant set.

    Notes
    -----
    With :math:`G_k` the pathways block :math:`k` silences and :math:`R_k` the others, the set's
    activity :math:`a` and the activities of :math:`G_k` are replaced by their residuals after a
    least-squares regression on :math:`R_k` (projections onto their span, by QR). The value is
    :math:`\pm\sqrt{R^2}` of the regression of :math:`a`'s residual on those of :math:`G_k`
    (the share of what :math:`R_k` leaves unexplained that :math:`G_k` explains: the multiple
    partial correlation), signed by the correlation of :math:`a`'s residual with that of
    :math:`G_k`'s summed standardised activity. For a pathway that excites no other it is the
    partial correlation of :func:`pathway_partial_correlation`.

    A CNN channel needs no separate interneuron to inhibit: one channel can excite one ganglion
    type and inhibit another, doing the work of a bipolar pathway and of the amacrine that bipolar
    drives. Its activity then follows the amacrine as closely as the bipolar, and the partial
    correlation, which credits each pathway only with what the others do not carry, names
    neither clearly; silencing the channel removes both, which is what a block of the bipolar
    does.
    """
    pathways = standardised(_pathway_rows(pathway_activity).T)  # (time x position, pathway)
    summed = standardised(_set_activity(channel_activity, channel_sets).T)  # (time x position, set)
    n = pathways.shape[1]
    result = np.zeros((summed.shape[1], n))
    for k, group in enumerate(silenced):
        group = list(group)
        rest = [j for j in range(n) if j not in group]
        basis = np.linalg.qr(pathways[:, rest])[0] if rest else np.zeros((pathways.shape[0], 0))

        def residual(values: np.ndarray, basis: np.ndarray = basis) -> np.ndarray:
            return values - basis @ (basis.T @ values)

        own = residual(summed)
        span = np.linalg.qr(residual(pathways[:, group]))[0]
        explained = np.linalg.norm(span.T @ own, axis=0)
        scale = np.linalg.norm(own, axis=0)
        sign = np.sign(residual(pathways[:, group].sum(axis=1)) @ own)
        result[:, k] = sign * np.divide(explained, scale, out=np.zeros(len(scale)), where=scale > 1e-9 * own.shape[0])
    return np.clip(result, -1.0, 1.0)


def pathway_correlation(
    channel_activity: np.ndarray, pathway_activity: np.ndarray, channel_sets: Sequence[Sequence[int]]
) -> np.ndarray:
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
    silenced: list[tuple[int, ...]] | None = None
    """Per pathway, the pathways its block silences (:func:`silenced_pathways`); None: itself only."""

    @classmethod
    def of(
        cls, recording: LayerRecording, retina, progress: bool = False, cache: PassCache | None = None
    ) -> PathwayMatch:
        """Record both sides on the recording's stimulus, at every position a cell of ``retina`` sits;
        the interneuron activities are taken from ``cache`` when it holds them."""
        cells = retina.cells
        positions = np.unique(np.stack([cells["y"].values, cells["x"].values], axis=1), axis=0)
        stimulus = recording.stimulus
        if stimulus is None:
            raise RetinaCodecError("the recording holds no stimulus; expected a recording made by record_layer")
        activity = remembered(
            cache,
            lambda: ("interneurons", id(retina), stimulus_key(stimulus), positions.tobytes()),
            lambda: retina.interneuron_activity(stimulus, positions=positions, progress=progress),
            retina,
        )
        activity = activity.sel(time=recording.rates["time"].values).transpose("time", "pathway", "position")
        names = [str(p) for p in activity["pathway"].values]
        return cls(
            activity_at(recording, positions), activity.values, names, silenced_pathways(retina.connections, names)
        )

    def correlation(self, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """(set, pathway) :func:`pathway_correlation`."""
        return pathway_correlation(self.channel_activity, self.pathway_activity, channel_sets)

    def partial(self, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """(set, pathway) :func:`pathway_partial_correlation`."""
        return pathway_partial_correlation(self.channel_activity, self.pathway_activity, channel_sets)

    @property
    def blocks(self) -> list[tuple[int, ...]]:
        """Per pathway, the positions of the pathways its block silences, its own first."""
        return self.silenced or [(k,) for k in range(len(self.pathways))]

    def block(self, channel_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """(set, pathway) :func:`pathway_block_correlation`."""
        return pathway_block_correlation(self.channel_activity, self.pathway_activity, channel_sets, self.blocks)

    def values(self, channel_sets: Sequence[Sequence[int]], match: str = "block") -> np.ndarray:
        """(set, pathway) match values of one of :data:`MATCHES`; (0, pathway) for no set."""
        if not len(channel_sets):
            return np.empty((0, len(self.pathways)))
        return {"block": self.block, "partial": self.partial, "correlation": self.correlation}[match](channel_sets)

    def best(self, channel_sets: Sequence[Sequence[int]], match: str = "block") -> list[str]:
        """The pathway each set is matched to: largest value of ``match`` (:data:`MATCHES`)."""
        return [self.pathways[int(b)] for b in self.values(channel_sets, match).argmax(axis=1)]

    def among(self, pathways: Sequence[str]) -> PathwayMatchAmong:
        """The same match with only ``pathways`` to choose from (see :class:`PathwayMatchAmong`)."""
        return PathwayMatchAmong(self, [str(p) for p in pathways])


@dataclass
class PathwayMatchAmong:
    """A :class:`PathwayMatch` whose sets can be matched to some of its pathways only.

    The match values are the full match's (each computed with every pathway of the circuit, so a
    partial or block correlation still holds all the others fixed); the others' columns are left
    out, so a set is matched to whichever of ``pathways`` it follows most closely.
    """

    full: PathwayMatch
    """The match over every pathway."""
    pathways: list[str]
    """The pathways to choose from, in the order of the values' columns."""

    @property
    def channel_activity(self) -> np.ndarray:
        """(time, channel, position) CNN layer output, as in the full match."""
        return self.full.channel_activity

    def values(self, channel_sets: Sequence[Sequence[int]], match: str = "block") -> np.ndarray:
        """(set, pathway) match values of one of :data:`MATCHES`, over ``pathways`` only."""
        columns = [self.full.pathways.index(p) for p in self.pathways]
        return self.full.values(channel_sets, match)[:, columns]

    def on_route(self, channel_sets: Sequence[Sequence[int]], match: str = "block") -> np.ndarray:
        """bool (set,): whether the pathway each set is matched to among ``pathways`` is the one it
        follows most closely over every pathway, or one that pathway's block silences.

        A set that follows pathway :math:`p` can do the work of pathway :math:`q` when :math:`p`
        is :math:`q` or drives it (:func:`silenced_pathways`): a channel that follows the ON
        sustained bipolars and inhibits the OFF cells does the work of the ON bipolar to
        narrow-field amacrine route, while one that follows the OFF sustained bipolars and
        inhibits the ON cells has no route through an inhibitory pathway of the circuit."""
        own = self.full.values(channel_sets, match).argmax(axis=1)
        target = [self.full.pathways.index(self.pathways[k]) for k in self.values(channel_sets, match).argmax(axis=1)]
        return np.array([t in self.full.blocks[o] for o, t in zip(own, target)], dtype=bool)
