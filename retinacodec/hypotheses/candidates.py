"""Which modes become hypotheses: each mode's channels, grouped into distinct channel sets, chosen
by their ties to cell types and by how often they are used."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..modes.compare import label_correlation
from ..modes.result import Modes
from ..modes.sae import SAE
from .match import PATHWAY_NAMES, type_name

TIED = 0.2
"""Correlation of a mode's loadings with a cell type above which the mode counts as tied to it
(the CODEC paper's threshold for label-specific modes)."""


@dataclass
class Candidate:
    """One distinct channel set and why it was chosen."""

    channels: tuple[int, ...]
    """Channel positions of the set."""
    reason: str
    """Why the set is a hypothesis (tied to a cell type, or used often)."""
    modes: list[int] = field(default_factory=list)
    """Every live mode whose channels are exactly this set."""
    usage: float = float("nan")
    """Summed fraction of samples where those modes are active (NaN when unknown)."""
    pathway: str = ""
    """The reference pathway the set is matched to ("" when unmatched)."""


@dataclass
class ModeTable:
    """A layer's modes as the hypotheses need them."""

    weights: xr.DataArray
    """(mode, channel) non-negative channel weights."""
    alive: np.ndarray
    """bool (mode,): modes that are not dead and have a non-zero atom."""
    usage: np.ndarray | None
    """(mode,) fraction of samples where each mode is active, when known."""
    loadings: xr.DataArray | None
    """(sample, mode) loadings with a ``cell_type`` sample coord, when known."""


def mode_table(modes: Modes | SAE | xr.Dataset | xr.DataArray) -> ModeTable:
    """Read weights, live modes, usage and loadings from modes (anything :meth:`Modes.coerce` takes:
    an SAE, a fit_modes Dataset or a dictionary).

    Raises
    ------
    RetinaCodecError
        For a Dataset without ``modes``, or a dictionary :func:`channel_weights` refuses.
    """
    modes = Modes.coerce(modes)
    weights = modes.channel_weights()
    alive = weights.values.max(axis=1) > 0
    if modes.dead_modes is not None:
        alive &= ~modes.dead_modes
    typed = modes.loadings is not None and "cell_type" in modes.loadings.coords
    return ModeTable(weights, alive, modes.usage, modes.loadings if typed else None)


def mode_channel_sets(table: ModeTable, channel_fraction: float) -> dict[int, tuple[int, ...]]:
    """Each live mode's channels: those with weight >= ``channel_fraction`` of its largest weight.

    Returns
    -------
    dict of int to tuple of int
        Mode position -> channel positions, for the live modes of ``table``.
    """
    values = table.weights.values
    return {
        int(m): tuple(int(c) for c in np.flatnonzero(values[m] >= channel_fraction * values[m].max()))
        for m in np.flatnonzero(table.alive)
    }


def candidates(table: ModeTable, channel_fraction: float, max_hypotheses: int) -> list[Candidate]:
    """The distinct channel sets to turn into hypotheses, at most ``max_hypotheses``.

    Parameters
    ----------
    table : ModeTable
        From :func:`mode_table`.
    channel_fraction : float
        A mode's channels are those with weight >= this fraction of its largest weight.
    max_hypotheses : int
        Most sets returned.

    Returns
    -------
    list of Candidate
        First, for each cell type (when loadings with cell types are known), the set of the live
        mode whose loadings correlate best with being that type (:func:`label_correlation`, above :data:`TIED`; types
        sharing a set are listed in its reason); then the sets of the most used modes (or,
        without usage, the largest atoms); a set already chosen is not repeated.
    """
    values = table.weights.values
    mode_ids = table.weights["mode"].values
    live = np.flatnonzero(table.alive)
    channel_sets = mode_channel_sets(table, channel_fraction)
    ranked: list[tuple[int, str]] = []  # (mode, reason), the cell-type modes first
    if table.loadings is not None and live.size:
        correlation, classes = label_correlation(table.loadings.values, np.asarray(table.loadings["cell_type"].values))
        for column, cell_type in enumerate(classes):
            best = int(live[np.argmax(correlation[live, column])])
            if len(classes) > 1 and correlation[best, column] > TIED:
                ranked.append(
                    (best, f"mode most tied to {type_name(str(cell_type))} cells (r = {correlation[best, column]:.2f})")
                )
    n_typed = len(ranked)
    score = table.usage if table.usage is not None else values.sum(axis=1)
    for mode in live[np.argsort(-score[live], kind="stable")]:
        ranked.append(
            (int(mode), f"used in {100 * score[mode]:.0f}% of samples" if table.usage is not None else "largest atom")
        )
    chosen: dict[tuple[int, ...], Candidate] = {}
    for position, (mode, reason) in enumerate(ranked):
        channels = channel_sets[mode]
        if channels in chosen and position < n_typed:
            chosen[channels].reason += f"; {reason}"
        elif channels not in chosen and len(chosen) < max_hypotheses:
            chosen[channels] = Candidate(channels, reason)
    for mode in live.tolist():
        if channel_sets[mode] in chosen:
            candidate = chosen[channel_sets[mode]]
            candidate.modes.append(int(mode_ids[mode]))
            if table.usage is not None:
                candidate.usage = float(np.nansum([candidate.usage, table.usage[mode]]))
    return list(chosen.values())


def split_by_pathway(chosen: list[Candidate], matched, match: str = "block") -> list[Candidate]:
    """Split every channel set into the channels that follow the same pathway.

    Parameters
    ----------
    chosen, matched, match
        As for :func:`merge_by_pathway`; the rule is applied to each channel alone.

    Returns
    -------
    list of Candidate
        For each set in turn, one set per pathway its channels are matched to (the channels matched
        to it, in the set's order of pathways first seen); a set already listed is not repeated.

    Notes
    -----
    A mode is a cooperation of channels, and the channels need not stand for one pathway: the mode
    of an OFF cell joins the OFF bipolars' excitation with the crossover inhibition driven by ON
    bipolars. Silencing all its channels at once is no single drug's experiment; each group of
    its channels that follows one pathway is.
    """
    n_channels = matched.channel_activity.shape[1]
    single = matched.values([(c,) for c in range(n_channels)], match).argmax(axis=1)
    split: dict[tuple[int, ...], Candidate] = {}
    for item in chosen:
        for pathway in dict.fromkeys(int(single[c]) for c in item.channels):
            channels = tuple(c for c in item.channels if single[c] == pathway)
            if channels not in split:
                split[channels] = _narrowed(item, channels, matched, pathway, "its channels that follow the {}")
    return list(split.values())


def _narrowed(item: Candidate, channels: tuple[int, ...], matched, pathway: int, wording: str) -> Candidate:
    """``item`` restricted to ``channels``; when they differ from its own, its reason adds
    ``wording`` with the plain name of pathway position ``pathway`` of ``matched`` in place of ``{}``."""
    name = PATHWAY_NAMES.get(matched.pathways[pathway], matched.pathways[pathway])
    reason = item.reason if channels == item.channels else f"{item.reason}, {wording.format(name)}"
    return Candidate(channels, reason, list(item.modes), item.usage)


def trim_to_pathway(chosen: list[Candidate], matched, match: str = "block") -> list[Candidate]:
    """Trim every channel set to the subset that follows its pathway most closely.

    Parameters
    ----------
    chosen, matched, match
        As for :func:`merge_by_pathway`.

    Returns
    -------
    list of Candidate
        For each set in turn, with :math:`k` the pathway it is matched to (largest match value):
        the set after backward elimination, which drops, one at a time, the channel whose removal
        raises the set's match value with :math:`k` the most, while some removal raises it; a set
        already listed is not repeated.

    Notes
    -----
    A mode's channels are those above a fraction of its largest weight, so a set can hold a
    channel that follows the pathway only weakly, or follows another one as well; silencing it
    too makes the experiment less specific than the block it stands for. Like the match, the
    trimming uses activities only, never a block's outcome.
    """
    trimmed: dict[tuple[int, ...], Candidate] = {}
    for item in chosen:
        channels = item.channels
        values = matched.values([channels], match)[0]
        pathway, value = int(values.argmax()), float(values.max())
        while len(channels) > 1:
            fewer = [tuple(c for c in channels if c != dropped) for dropped in channels]
            scores = matched.values(fewer, match)[:, pathway]
            if scores.max() <= value:
                break
            channels, value = fewer[int(scores.argmax())], float(scores.max())
        if channels not in trimmed:
            trimmed[channels] = _narrowed(
                item, channels, matched, pathway, "trimmed to the channels that follow the {} most closely"
            )
    return list(trimmed.values())


def merge_by_pathway(chosen: list[Candidate], matched, match: str = "block") -> list[Candidate]:
    """Merge the channel sets matched to the same pathway: one hypothesis per intervention.

    Parameters
    ----------
    chosen : list of Candidate
        From :func:`candidates`, in their order of priority.
    matched : PathwayMatch
        Channel and pathway activities (:class:`retinacodec.hypotheses.match.PathwayMatch`).
    match : {"block", "partial", "correlation"}
        The matching rule (:data:`retinacodec.hypotheses.match.MATCHES`).

    Returns
    -------
    list of Candidate
        One per matched pathway, in order of first appearance: the set that follows the pathway
        most closely (largest match value) stands for it, with ``pathway`` set; the others'
        reasons and channels are added to its reason. A set, not the union of the sets: a union
        of several modes' channels is a set no mode uses, and silencing it is no longer specific.
    """
    sets = [c.channels for c in chosen]
    values = matched.values(sets, match)
    best = values.argmax(axis=1)
    groups: dict[int, list[int]] = {}
    for position, pathway in enumerate(best):
        groups.setdefault(int(pathway), []).append(position)
    merged = []
    for pathway, members in groups.items():
        lead = max(members, key=lambda m: (values[m, pathway], -m))
        item = chosen[lead]
        others = [
            f"{chosen[m].reason} (channels {', '.join(map(str, chosen[m].channels))})" for m in members if m != lead
        ]
        reason = item.reason + ("; also matched to it: " + "; ".join(others) if others else "")
        merged.append(Candidate(item.channels, reason, list(item.modes), item.usage, matched.pathways[pathway]))
    return merged
