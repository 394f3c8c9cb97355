"""How well any small channel set of the CNN could stand for each pathway: a ceiling on the recovery
score that uses the test's outcomes, so it is a diagnostic only and never chooses a match.

If even the best channel set per pathway disagrees with the pathway's block, no matching rule can
recover that pathway: the CNN mixes it with others. If the ceiling is high and the recovery score
low, the matching is what fails. :func:`named_ceiling` splits a run's shortfall the same way: the
score its hypotheses would reach with the best set of their layer for the pathway each names.
Beside the ceiling, :func:`pathway_ceiling` can match every small set to the pathways as the
hypotheses do, from activities alone: what activity matching recovers whichever channels the modes
nominate; and it bounds how many pathways a confirmed hypothesis could name, counting only the sets
the match would assign each pathway. An inhibitory pathway can also be stood for by a block of a
set's inhibitory outputs only (:func:`~retinacodec.hypotheses.effects.released_change`), as the
hypotheses do.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import xarray as xr
from torch import nn

from ..control.recorded import PassCache, record_layer, scaled_mean_rates
from ..errors import RetinaCodecError
from .effects import categories, released_change
from .match import PATHWAY_NAMES, PathwayMatch, inhibitory_pathways
from .score import retina_mean_rate, type_agreement
from .settings import HypothesisSettings

RELEASED = " (inhibitory outputs)"
"""Added to a set's channels where the ceiling is reached by a block of its inhibitory outputs only."""


def _observed_categories(
    retina, stimulus: xr.DataArray, first: int, settings: HypothesisSettings, coords: dict, cache: PassCache | None
) -> xr.DataArray:
    """(pathway, type) categories of the virtual retina's change when each pathway is blocked."""
    baseline = retina_mean_rate(retina, stimulus, None, first=first, cache=cache)
    changes = np.stack(
        [retina_mean_rate(retina, stimulus, p, first=first, cache=cache) - baseline for p in retina.pathways]
    )
    change = xr.DataArray(changes, dims=("pathway", "cell"), coords={"pathway": list(retina.pathways), **coords})
    return categories(change, xr.DataArray(baseline, dims="cell", coords=coords), settings.recording_s, settings.z_min)


def _layer_agreement(
    model: nn.Module,
    stimulus: xr.DataArray,
    layer: str,
    observed: xr.DataArray,
    max_size: int,
    settings: HypothesisSettings,
    coords: dict,
    progress: bool,
    cache: PassCache | None,
) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
    """Every set of 1..``max_size`` channels of a layer, and (set, pathway) the type agreement with
    each pathway's block (``observed``) of silencing it in the CNN and of blocking its inhibitory
    outputs only (:func:`~retinacodec.hypotheses.effects.released_change`)."""
    recording = record_layer(model, stimulus, layer, settings.batch_size, cache=cache)
    n_channels = recording.activation.shape[1]
    sets = [s for size in range(1, max_size + 1) for s in combinations(range(n_channels), size)]
    means = scaled_mean_rates(model, recording, layer, sets, 0.0, settings.batch_size, progress, cache=cache)
    baseline = recording.rates.values.astype(np.float64).mean(axis=0)
    change = xr.DataArray(means - baseline, dims=("set", "cell"), coords=coords)
    rate = xr.DataArray(baseline, dims="cell", coords=coords)
    agreement = [
        type_agreement(categories(blocked, rate, settings.recording_s, settings.z_min), observed)
        .transpose("set", "pathway")
        .values
        for blocked in (change, change.copy(data=released_change(change.values)))
    ]
    return sets, agreement[0], agreement[1]


def _match_values(matched: PathwayMatch, sets: list[tuple[int, ...]], pathways: list[str], match: str) -> np.ndarray:
    """(set, pathway) match values (:meth:`PathwayMatch.values`) of every set, pathways in ``pathways``' order."""
    return matched.values(sets, match)[:, [matched.pathways.index(p) for p in pathways]]


def pathway_ceiling(
    model: nn.Module,
    stimulus: xr.DataArray,
    layers: Sequence[str],
    retina,
    max_size: int = 2,
    *,
    match_stimulus: xr.DataArray | None = None,
    settings: HypothesisSettings | None = None,
    progress: bool = False,
    cache: PassCache | None = None,
) -> xr.Dataset:
    """The best type agreement any set of up to ``max_size`` channels of a layer reaches with each
    pathway's block; with ``match_stimulus``, also the agreement of the set that follows each
    pathway most closely, chosen from activities alone.

    Parameters
    ----------
    model : torch.nn.Module
        A retina CNN trained on ``retina``.
    stimulus : xarray.DataArray
        (time, y, x) stimulus of the experiments (the hypotheses' test stimulus).
    layers : sequence of str
        Layers whose channel sets are tried.
    retina : VirtualRetina
        The ground truth, its cells the model's.
    max_size : int
        Largest channel set tried (all sets of 1..max_size channels of each layer).
    match_stimulus : xarray.DataArray, optional
        The hypotheses' held-out match stimulus; when given, every set is also matched to the
        pathways as the hypotheses are (see Returns).
    settings : HypothesisSettings, optional
        The hypotheses' settings (the defaults when omitted); the ceiling uses ``recording_s`` and
        ``z_min`` (when a change counts, :func:`~retinacodec.hypotheses.effects.categories`),
        ``match`` (the matching rule), ``batch_size`` (windows per downstream pass) and
        ``inhibitory``: also try, for each inhibitory pathway
        (:func:`~retinacodec.hypotheses.match.inhibitory_pathways`), a block of every set's
        inhibitory outputs only, as the hypotheses do; such a set's channels end in :data:`RELEASED`.
    progress : bool
        Show progress bars.
    cache : PassCache, optional
        Passes shared with the hypotheses of the same analysis.

    Returns
    -------
    xarray.Dataset
        Over ``pathway``: ``name``, ``ceiling`` (best type agreement,
        :func:`~retinacodec.hypotheses.score.type_agreement`, of silencing a channel set in the CNN,
        or with ``inhibitory`` of blocking its inhibitory outputs, against blocking the pathway),
        ``ceiling_layer`` and ``ceiling_channels`` (the set reaching
        it, the smallest and first one if tied); over (``layer``, ``pathway``) the same per layer,
        ``layer_ceiling`` and ``layer_ceiling_channels`` (for :func:`named_ceiling`); attr
        ``mean_ceiling``, the recovery score hypotheses naming every pathway once, with equal
        confidence, could at best reach, and ``n_confirmable``, the pathways whose ceiling is 1 (the
        most a confirmed hypothesis with a set of up to ``max_size`` channels could name). With
        ``match_stimulus``: ``match_agreement``, ``match_value``, ``match_layer`` and
        ``match_channels`` (pathway) of the set, over every layer, with the largest match value for
        the pathway, and attrs ``mean_match_agreement`` (their mean) and ``match_rule``; and
        ``assigned_ceiling``, ``assigned_layer`` and ``assigned_channels`` (pathway), the best
        type agreement among the sets the match assigns that pathway (NaN and "" where it assigns
        it none), with attr ``n_confirmable_assigned``, the pathways where it is 1.

    Notes
    -----
    The ceiling chooses sets by their outcomes, so it bounds every method. The match over every
    set chooses them as the hypotheses do, from activities only, but without modes: it says what
    activity matching can recover from this CNN whichever channels the modes nominate. When it is
    well below the ceiling, the channels whose silencing reproduces a block are not the ones that
    follow the blocked pathway's activity.

    A hypothesis names the pathway its set follows most closely (the largest match value over
    pathways), so it can be confirmed for a pathway only with a set the match assigns that
    pathway: the ceiling over those sets (``assigned_ceiling``) bounds every hypothesis of up to
    ``max_size`` channels naming the pathway, and ``n_confirmable_assigned`` bounds how many pathways
    such hypotheses can name confirmed, whichever sets the modes nominate. With ``inhibitory``, a
    block of a set's inhibitory outputs is assigned the inhibitory pathway it follows most closely
    (the largest match value among those pathways) when that pathway is on the set's route, as the
    hypotheses' second matching does; the match over every set (``match_agreement``) stays with
    whole-set silencing.
    """
    settings = HypothesisSettings() if settings is None else settings
    match = settings.match
    rates = record_layer(model, stimulus, layers[0], settings.batch_size, cache=cache).rates
    coords = {name: rates[name] for name in ("cell", "cell_type") if name in rates.coords}
    first = int(getattr(model, "history", 1)) - 1
    observed = _observed_categories(retina, stimulus, first, settings, coords, cache)
    pathways = [str(p) for p in observed["pathway"].values]
    inhibiting = np.isin(pathways, inhibitory_pathways(retina.connections, pathways) if settings.inhibitory else [])
    columns = np.arange(len(pathways))
    per_layer = np.full((len(layers), len(pathways)), -1.0)
    per_layer_sets = np.full((len(layers), len(pathways)), "", dtype=object)
    matched = np.full((3, len(layers), len(pathways)), np.nan)  # (agreement, value, set index)
    assigned = np.full((2, len(layers), len(pathways)), np.nan)  # (agreement, set index) per pathway
    layer_sets = []
    for row, layer in enumerate(layers):
        sets, silenced, released = _layer_agreement(
            model, stimulus, layer, observed, max_size, settings, coords, progress, cache
        )
        # the pool: every set silenced, then every set's inhibitory outputs blocked (inhibitory pathways only)
        agreement = np.concatenate([silenced, np.where(inhibiting, released, -1.0)])
        labels = [", ".join(map(str, s)) for s in sets]
        labels += [label + RELEASED for label in labels]
        layer_sets.append(labels)
        top = agreement.argmax(axis=0)  # the smallest and first set if tied, silencing before release
        per_layer[row] = agreement[top, columns]
        per_layer_sets[row] = [labels[t] for t in top]
        if match_stimulus is not None:
            recording = record_layer(model, match_stimulus, layer, settings.batch_size, cache=cache)
            layer_match = PathwayMatch.of(recording, retina, cache=cache)
            values = _match_values(layer_match, sets, pathways, match)
            closest = values.argmax(axis=0)
            matched[:, row] = silenced[closest, columns], values[closest, columns], closest
            among = _assigned_inhibition(layer_match, sets, pathways, inhibiting, match)
            assigned[:, row] = _best_assigned(agreement, np.concatenate([values.argmax(axis=1), among]))
    best_layer = per_layer.argmax(axis=0)  # the first layer if tied
    result = xr.Dataset(
        {
            "name": ("pathway", [PATHWAY_NAMES.get(p, p) for p in pathways]),
            "ceiling": ("pathway", per_layer[best_layer, columns]),
            "ceiling_layer": ("pathway", [str(layers[b]) for b in best_layer]),
            "ceiling_channels": ("pathway", per_layer_sets[best_layer, columns].astype(str)),
            "layer_ceiling": (("layer", "pathway"), per_layer),
            "layer_ceiling_channels": (("layer", "pathway"), per_layer_sets.astype(str)),
        },
        coords={"pathway": pathways, "layer": [str(layer) for layer in layers]},
        attrs={
            "mean_ceiling": float(per_layer.max(axis=0).mean()),
            "max_size": int(max_size),
            "n_confirmable": int((per_layer.max(axis=0) >= 1).sum()),
            "inhibitory": int(settings.inhibitory),
            "note": "uses the blocks' outcomes: a diagnostic ceiling, never used to choose a match",
        },
    )
    if match_stimulus is None:
        return result
    closest_layer = matched[1].argmax(axis=0)  # the layer whose set follows the pathway most closely
    agreement, value, index = matched[:, closest_layer, columns]
    result = result.assign(
        match_agreement=("pathway", agreement),
        match_value=("pathway", value),
        match_layer=("pathway", [str(layers[b]) for b in closest_layer]),
        match_channels=("pathway", [layer_sets[b][int(i)] for b, i in zip(closest_layer, index)]),
    )
    result.attrs.update(mean_match_agreement=float(agreement.mean()), match_rule=match)
    return _with_assigned_ceiling(result, assigned, layers, layer_sets)


def _assigned_inhibition(
    matched: PathwayMatch, sets: list[tuple[int, ...]], pathways: list[str], inhibiting: np.ndarray, match: str
) -> np.ndarray:
    """(set,) the column in ``pathways`` of the inhibitory pathway (``inhibiting``) each set's
    inhibitory outputs are assigned, as the hypotheses assign them: matched among the inhibitory
    pathways and on the set's route (:meth:`~retinacodec.hypotheses.match.PathwayMatchAmong.on_route`);
    -1 where none is."""
    if not inhibiting.any():
        return np.full(len(sets), -1)
    among = matched.among([p for p, inhibitory in zip(pathways, inhibiting) if inhibitory])
    columns = np.array([pathways.index(among.pathways[k]) for k in among.values(sets, match).argmax(axis=1)])
    return np.where(among.on_route(sets, match), columns, -1)


def _best_assigned(agreement: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """(2, pathway): the best type agreement among a layer's sets that the match assigns each
    pathway (``assigned``: per set, the pathway of its largest match value) and that set's index;
    NaN where the match assigns the pathway no set of the layer."""
    best = np.full((2, agreement.shape[1]), np.nan)
    for column in range(agreement.shape[1]):
        members = np.flatnonzero(assigned == column)
        if members.size:
            top = members[int(agreement[members, column].argmax())]  # the smallest and first set if tied
            best[:, column] = agreement[top, column], top
    return best


def _with_assigned_ceiling(
    result: xr.Dataset, assigned: np.ndarray, layers: Sequence[str], layer_sets: list[list[str]]
) -> xr.Dataset:
    """Add the ceiling over the sets the match assigns each pathway (``assigned``: (agreement, set
    index) per layer and pathway, from :func:`_best_assigned`; ``layer_sets``, each layer's sets as
    text) and how many pathways a confirmed hypothesis could name."""
    agreement, index = assigned
    found = ~np.isnan(agreement).all(axis=0)
    filled = np.where(np.isnan(agreement), -1.0, agreement)
    layer = filled.argmax(axis=0)  # the first layer if tied
    best = np.where(found, filled[layer, np.arange(agreement.shape[1])], np.nan)
    result = result.assign(
        assigned_ceiling=("pathway", best),
        assigned_layer=("pathway", [str(layers[b]) if found[k] else "" for k, b in enumerate(layer)]),
        assigned_channels=(
            "pathway",
            [layer_sets[b][int(index[b, k])] if found[k] else "" for k, b in enumerate(layer)],
        ),
    )
    result.attrs["n_confirmable_assigned"] = int((best >= 1).sum())
    return result


def named_ceiling(tested: xr.Dataset, ceiling: xr.Dataset) -> float:
    """The recovery score the same hypotheses would reach if each one's channel set were the best
    set of its layer for the pathway it names: what the matching, not the CNN, leaves on the table.

    Parameters
    ----------
    tested : xarray.Dataset
        Tested hypotheses (:func:`~retinacodec.hypotheses.score.test`): ``layer``, ``block`` (the
        named pathway) and ``confidence`` per hypothesis.
    ceiling : xarray.Dataset
        :func:`pathway_ceiling` of the same model and stimulus, over the hypotheses' layers.

    Returns
    -------
    float
        :math:`\\sum_h c_h\\, C_{\\ell_h, p_h} / \\sum_h c_h`, with :math:`c_h` the confidence
        of hypothesis :math:`h`, :math:`\\ell_h` its layer, :math:`p_h` its pathway and :math:`C`
        the per-layer ceiling (``layer_ceiling``); NaN when every confidence is 0.

    Raises
    ------
    RetinaCodecError
        If a hypothesis names a layer or pathway the ceiling was not computed for.
    """
    layers = [str(layer) for layer in ceiling["layer"].values]
    pathways = [str(p) for p in ceiling["pathway"].values]
    pairs = list(zip(map(str, tested["layer"].values), map(str, tested["block"].values)))
    unknown = [pair for pair in pairs if pair[0] not in layers or pair[1] not in pathways]
    if unknown:
        raise RetinaCodecError(
            f"hypotheses name (layer, pathway) {unknown[0]} without a ceiling; expected layers "
            f"{', '.join(layers)} and pathways {', '.join(pathways)}"
        )
    best = np.array([float(ceiling["layer_ceiling"].sel(layer=layer, pathway=p)) for layer, p in pairs])
    confidence = np.asarray(tested["confidence"].values, dtype=float)
    total = confidence.sum()
    return float(confidence @ best / total) if total > 0 else float("nan")
