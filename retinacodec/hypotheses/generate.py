"""From contribution modes to testable hypotheses: which pathway a mode's channels stand for, what
blocking it should do to each ganglion cell, and how sure the prediction is."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.special import erf
from torch import nn

from .. import __version__
from ..control.recorded import LayerRecording, record_layer, scaled_mean_rates, shared_passes
from ..errors import RetinaCodecError
from ..models.adapter import adapt
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import modes_layer
from ..stimuli.base import validate_stimulus
from .candidates import Candidate, candidates, merge_by_pathway, mode_table, split_by_pathway, trim_to_pathway
from .effects import (
    TYPE_DIM,
    by_type,
    categories,
    changed,
    check_criterion,
    effect_z,
    released_change,
    type_counts,
)
from .match import MATCHES, PATHWAY_NAMES, PathwayMatch, PathwayMatchAmong, drugs_for, inhibitory_pathways

KIND = "hypotheses"
"""Value of the ``kind`` attr of a hypotheses Dataset."""
CANDIDATES_PER_HYPOTHESIS = 2
"""Channel sets considered per hypothesis kept: sets matched to one pathway are merged, so more
sets than hypotheses are matched first."""


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise RetinaCodecError(f"{name} is {value!r}; expected an integer >= {minimum}")
    return int(value)


def _modes_variable(modes: Modes | SAE | xr.Dataset | xr.DataArray) -> str:
    """What the modes decompose (``"contribution"`` or ``"activation"``; contribution when unrecorded)."""
    return Modes.coerce(modes).variable or "contribution"


def _listed(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


def generate(
    model: nn.Module,
    stimulus: xr.DataArray,
    modes: SAE | xr.Dataset | xr.DataArray,
    layer: str,
    *,
    virtual_retina=None,
    match_stimulus: xr.DataArray | None = None,
    gain: float = 0.0,
    channel_fraction: float = 0.5,
    max_hypotheses: int = 6,
    n_shuffles: int = 10,
    seed: int = 0,
    recording_s: float = 60.0,
    z_min: float = 2.0,
    match: str = "block",
    split: bool = True,
    trim: bool = True,
    require_effect: bool = True,
    inhibitory: bool = True,
    batch_size: int = 250,
    progress: bool = True,
) -> xr.Dataset:
    """Turn a layer's modes into hypotheses a physiologist can test, one per distinct channel set.

    Parameters
    ----------
    model : torch.nn.Module
        A retina CNN (see :func:`retinacodec.models.load`).
    stimulus : xarray.DataArray
        (time, y, x) stimulus under which the effects are predicted (and later tested).
    modes : SAE, xarray.Dataset or xarray.DataArray
        Modes of ``layer``: the Dataset of :func:`retinacodec.modes.workflow.fit_modes` (best: its
        loadings tie modes to cell types, ``mode_usage`` ranks them, ``dead_modes`` are
        skipped), a fitted SAE, or a dictionary (mode, channel[, sign]) / (mode, feature).
    layer : str
        The layer the modes were fitted on (``"bipolar"``, ``"amacrine"``).
    virtual_retina : VirtualRetina, optional
        Ground truth whose pathways the channel sets are matched to; ``model.virtual_retina`` when
        omitted. Without one (a model of a recording) no pathway is named.
    match_stimulus : xarray.DataArray, optional
        Held-out stimulus on which channel and pathway activities are correlated; ``stimulus``
        when omitted.
    gain : float
        The intervention: the channels' (and, in the test, the matched pathway's) output is
        multiplied by ``gain``; 0 blocks (the default, named after the drug that does it), 2
        boosts to double.
    channel_fraction : float
        A mode's channels are those whose weight (:func:`~retinacodec.modes.selection.channel_weights`)
        is at least this fraction of the mode's largest weight, in (0, 1].
    max_hypotheses : int
        Most hypotheses (distinct interventions); up to :data:`CANDIDATES_PER_HYPOTHESIS` times as
        many channel sets are chosen by :func:`~retinacodec.hypotheses.candidates.candidates`, split
        into the channels that follow each pathway and merged by matched pathway.
    n_shuffles : int
        Shuffled controls: each permutes the layer's channel labels once (seeded) and maps every
        hypothesis's channel set through the permutation (same size, other channels).
    seed : int
        Seed of the permutations.
    recording_s : float
        Length (s) of the imagined recording of each condition; with ``z_min`` it decides which
        changes count (:func:`~retinacodec.hypotheses.effects.categories`) and sets the
        confidence.
    z_min : float
        Poisson standard errors a change must reach to count.
    match : {"block", "partial", "correlation"}
        How channel sets are matched to pathways (see Notes).
    split : bool
        Split each mode's channel set into the channels matched to each pathway before merging
        (see Notes); False keeps every mode's set whole.
    trim : bool
        Trim each (split) set to the subset that follows its pathway most closely before merging
        (:func:`~retinacodec.hypotheses.candidates.trim_to_pathway`); False keeps the sets as split.
    require_effect : bool
        Keep only the sets whose silencing (or scaling) the CNN predicts to change some cell
        type's mean rate visibly (``recording_s``, ``z_min``), before merging (see Notes); False
        keeps sets that change nothing.
    inhibitory : bool
        With a retina and ``gain`` 0, add hypotheses that a set's inhibitory output stands for one
        of the retina's inhibitory pathways (:func:`~retinacodec.hypotheses.match.inhibitory_pathways`),
        blocked as a receptor antagonist does: only on the cells the set inhibits (see Notes).
    batch_size : int
        Windows per forward pass.
    progress : bool
        Show progress bars.

    Returns
    -------
    xarray.Dataset
        Over ``hypothesis`` (``"<layer>-<k>"``): ``layer``, ``reason``, ``modes``, ``channels``
        (text), ``n_channels``, ``mode_usage``, ``blocked_outputs`` ("all": the channels are
        silenced; "inhibitory": only their outputs onto the cells they inhibit); ``block`` (the
        matched pathway, "" without a retina), ``pathway_name``, ``drug``, ``drug_also_blocks``,
        ``match_r``, ``pathway_correlation`` and ``pathway_partial_correlation`` (hypothesis, pathway);
        ``predicted_change`` and ``affected`` (hypothesis, cell), ``predicted_effect`` (Hz) and
        ``predicted_category`` (hypothesis, type); ``effect_z``, ``detectability``, ``confidence``;
        ``baseline_rate`` (cell) in Hz; the
        controls ``shuffled_channels`` (shuffle, hypothesis) and ``shuffled_change`` (shuffle,
        hypothesis, cell). Attrs: kind, intervention, model, ``modes_variable`` (what the modes
        decompose: contribution or activation), stimulus provenance, settings.

    Raises
    ------
    RetinaCodecError
        For an unknown layer, modes of another layer, bad settings, or stimuli that do not fit.

    Notes
    -----
    *Prediction.* :math:`\\hat\\Delta_i = \\bar r_i^{\\,\\text{ablated}} - \\bar r_i`, the change of
    cell :math:`i`'s mean rate over the stimulus when the set's channels are zeroed (the
    intervention of :func:`retinacodec.control.experiments.ablate`) or multiplied by ``gain``.

    *Match.* Every candidate set's summed activity is compared, pooled over time and the cells'
    positions on ``match_stimulus``, with the pathways' activities. With ``match="block"`` (the
    default) the set is matched to the block whose silenced activities it uniquely follows: the
    pathway and the interneurons it excites (a block of ON bipolars also silences the
    narrow-field amacrine they drive), the other pathways held fixed
    (:func:`~retinacodec.hypotheses.match.pathway_block_correlation`). A CNN channel can excite
    one ganglion type and inhibit another, doing a bipolar's and its amacrine's work at once;
    silencing it is then a block of the bipolar. ``match="partial"`` names the single pathway
    with the largest partial correlation (the other pathways held fixed), ``"correlation"`` the
    one the set shares most variance with (pathways' activities are correlated with each other,
    so that one is rarely the one the set uniquely follows). A mode's channel set is first split
    into the channels matched to each pathway
    (:func:`~retinacodec.hypotheses.candidates.split_by_pathway`): a mode joins pathways (an OFF
    cell's mode, OFF bipolar excitation and ON-driven crossover inhibition), and each is its own
    experiment; each such set is then trimmed to the subset of its channels that follows its
    pathway most closely (:func:`~retinacodec.hypotheses.candidates.trim_to_pathway`). Sets matched to
    the same pathway name the same experiment and are merged into one hypothesis, the set that
    follows the pathway most closely standing for it
    (:func:`~retinacodec.hypotheses.candidates.merge_by_pathway`); :math:`\\rho^*` is its match value.
    The match uses activities and the circuit's wiring only, never
    the outcome of a block, so the test is not circular.

    *Inhibitory outputs.* An interneuron pathway of the retina inhibits some cells; a CNN has no
    separate inhibitory cells, and one channel can excite one ganglion type and inhibit another
    (the ON sustained channel drives the ON cells and does the narrow-field amacrine's crossover
    inhibition of the OFF cells). Silencing it removes both, which no amacrine block does. The
    experiment on an inhibitory pathway is a receptor antagonist (strychnine, picrotoxin): it
    removes the inhibition where it lands, on the cells inhibited, and leaves the rest. Its CNN
    counterpart gives every cell whose mean rate the set's silencing raises (the cells the set
    inhibits, on balance) the rate of the network with the set silenced, and every other cell
    the intact rate: :math:`\\hat\\Delta_i = \\max(\\bar r_i^{\\,\\text{ablated}} - \\bar r_i, 0)`.
    With ``inhibitory``, every candidate set is matched, split and trimmed a second time among the
    inhibitory pathways only (their match values are those of the full match, so the other
    pathways are still held fixed). A set is kept when the inhibitory pathway it is matched to is
    on its route: the pathway the set follows most closely over all of them, or one that
    pathway's block silences (:meth:`~retinacodec.hypotheses.match.PathwayMatchAmong.on_route`;
    a channel that follows the OFF sustained bipolars and inhibits the ON cells does the work of no
    inhibitory pathway of the circuit), and when its inhibitory outputs' block would raise some
    cell type visibly; the sets kept are merged by pathway into at most one hypothesis per
    inhibitory pathway, ``blocked_outputs`` "inhibitory". Their shuffled controls are blocked the
    same way. These hypotheses come beside the ``max_hypotheses`` whole-set ones.

    *Effect.* A set whose silencing changes no cell type's mean rate visibly (the CNN's own
    prediction, at ``z_min`` standard errors of a ``recording_s`` recording) follows a pathway's
    activity without contributing to the cells' responses: activating is not contributing, and
    such a set stands for no pathway the cells use, so with ``require_effect`` it is left out
    before merging (another set matched to the same pathway can then stand for it). When no set
    of the layer has a visible effect, the one with the largest effect is kept, so that the layer
    still yields a hypothesis (predicting no change).

    *Confidence.* :math:`c = \\max(\\rho^*, 0) \\cdot \\operatorname{erf}(z / \\sqrt 2)`, with
    :math:`z` the largest :func:`~retinacodec.hypotheses.effects.effect_z` over cell types (type
    means pooled over the type's cells, recording ``recording_s``):
    :math:`\\operatorname{erf}(z/\\sqrt2)` is the probability that a normal deviate lies within
    :math:`z`, near 1 for an effect far above the noise. Without a retina :math:`c` is this
    detectability alone.
    """
    stimulus = validate_stimulus(stimulus)
    check_criterion(recording_s, z_min)
    max_hypotheses = _count("max_hypotheses", max_hypotheses, 1)
    n_shuffles = _count("n_shuffles", n_shuffles, 0)
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not np.isfinite(gain) or gain < 0 or gain == 1:
        raise RetinaCodecError(f"gain is {gain!r}; expected a factor >= 0 other than 1 (0 blocks, 2 doubles)")
    if not (isinstance(channel_fraction, (int, float)) and 0 < channel_fraction <= 1):
        raise RetinaCodecError(f"channel_fraction is {channel_fraction!r}; expected a number in (0, 1]")
    if match not in MATCHES:
        raise RetinaCodecError(f"unknown match {match!r}; expected one of {', '.join(MATCHES)}")
    table = mode_table(modes)
    modes_layer(table.weights, layer, adapt(model))
    retina = virtual_retina if virtual_retina is not None else getattr(model, "virtual_retina", None)
    chosen = candidates(table, channel_fraction, CANDIDATES_PER_HYPOTHESIS * max_hypotheses)
    if not chosen:
        raise RetinaCodecError("every mode is dead or empty; expected fitted modes with non-zero atoms")
    recording = record_layer(model, stimulus, layer, batch_size, progress)
    n_channels = recording.activation.shape[1]
    if table.weights.sizes["channel"] != n_channels:
        raise RetinaCodecError(
            f"the modes have {table.weights.sizes['channel']} channels; layer {layer!r} has {n_channels}"
        )
    matched, inhibiting, candidate_sets = None, [], chosen
    if retina is not None:
        match_recording = (
            record_layer(model, validate_stimulus(match_stimulus), layer, batch_size, progress)
            if match_stimulus is not None
            else recording
        )
        matched = PathwayMatch.of(match_recording, retina, progress)
        inhibiting = inhibitory_pathways(retina.connections, matched.pathways) if inhibitory and gain == 0 else []
        chosen = _narrowed_to_pathways(chosen, matched, match, split, trim)
    with shared_passes():  # a set kept is silenced once, for the effect filter and its prediction
        if require_effect:
            chosen = _with_effect(model, recording, layer, chosen, gain, batch_size, progress, recording_s, z_min)
        chosen = (merge_by_pathway(chosen, matched, match) if matched is not None else chosen)[:max_hypotheses]
        released = [False] * len(chosen)
        if inhibiting:
            among = matched.among(inhibiting)
            inhibition = _on_route(_narrowed_to_pathways(candidate_sets, among, match, split, trim), among, match)
            inhibition = _with_release(model, recording, layer, inhibition, batch_size, progress, recording_s, z_min)
            inhibition = _inhibitory_reasons(merge_by_pathway(inhibition, among, match))
            chosen, released = chosen + inhibition, released + [True] * len(inhibition)
        ds = _predictions(
            model, recording, layer, chosen, released, gain, n_shuffles, seed, batch_size, progress, recording_s, z_min
        )
    ds.attrs.update(
        {
            "kind": KIND,
            "intervention": "block" if gain == 0 else f"scale by {gain:g}",
            "gain": float(gain),
            "model": str(getattr(model, "name", type(model).__name__)),
            "layer": layer,
            "modes_variable": _modes_variable(modes),
            "stimulus": str(stimulus.attrs.get("kind", "unknown")),
            "stimulus_seed": int(stimulus.attrs.get("seed", -1)),
            "stimulus_frames": int(stimulus.sizes["time"]),
            "model_history": int(getattr(model, "history", 1)),
            "channel_fraction": float(channel_fraction),
            "split_by_pathway": int(bool(split)),
            "trim_to_pathway": int(bool(trim)),
            "require_effect": int(bool(require_effect)),
            "inhibitory": int(bool(inhibitory)),
            "recording_s": float(recording_s),
            "z_min": float(z_min),
            "n_shuffles": n_shuffles,
            "seed": int(seed),
            "retinacodec_version": __version__,
        }
    )
    if matched is None:
        return _unmatched(ds)
    stimulus_used = match_stimulus if match_stimulus is not None else stimulus
    return _matched(ds, matched, stimulus_used, retina, chosen, match)


def _narrowed_to_pathways(chosen: list[Candidate], matched, match: str, split: bool, trim: bool) -> list[Candidate]:
    """The sets split into the channels that follow each pathway of ``matched`` and trimmed to
    those that follow it most closely, as ``split`` and ``trim`` ask."""
    chosen = split_by_pathway(chosen, matched, match) if split else chosen
    return trim_to_pathway(chosen, matched, match) if trim else chosen


def _on_route(chosen: list[Candidate], among: PathwayMatchAmong, match: str) -> list[Candidate]:
    """The sets whose matched inhibitory pathway is on their route
    (:meth:`~retinacodec.hypotheses.match.PathwayMatchAmong.on_route`), in their order."""
    return [item for item, kept in zip(chosen, among.on_route([item.channels for item in chosen], match)) if kept]


def _inhibitory_reasons(chosen: list[Candidate]) -> list[Candidate]:
    """The sets with their reasons saying that only their inhibitory outputs are blocked."""
    return [
        Candidate(
            item.channels,
            f"its outputs onto the cells it inhibits: {item.reason}",
            list(item.modes),
            item.usage,
            item.pathway,
        )
        for item in chosen
    ]


def _baseline_rate(recording: LayerRecording) -> xr.DataArray:
    """(cell) mean rate of the unperturbed model over the recording, with the cells' coords."""
    rates = recording.rates
    cell_coords = {name: rates[name] for name in ("cell", "cell_type", "y", "x") if name in rates.coords}
    return xr.DataArray(rates.values.astype(np.float64).mean(axis=0), dims="cell", coords=cell_coords)


def _set_changes(
    model: nn.Module,
    recording: LayerRecording,
    layer: str,
    chosen: list[Candidate],
    gain: float,
    batch_size: int,
    progress: bool,
    released: bool = False,
) -> tuple[xr.DataArray, xr.DataArray]:
    """(set, cell) change of the mean rate when each set's channels are scaled by ``gain`` (with
    ``released``, of a block of its inhibitory outputs only, :func:`released_change`) and the
    (cell) unperturbed rate."""
    baseline = _baseline_rate(recording)
    rates = scaled_mean_rates(model, recording, layer, [item.channels for item in chosen], gain, batch_size, progress)
    change = rates - baseline.values
    return (
        xr.DataArray(released_change(change) if released else change, dims=("set", "cell"), coords=baseline.coords),
        baseline,
    )


def _with_effect(
    model: nn.Module,
    recording: LayerRecording,
    layer: str,
    chosen: list[Candidate],
    gain: float,
    batch_size: int,
    progress: bool,
    recording_s: float,
    z_min: float,
) -> list[Candidate]:
    """The sets whose intervention changes some cell type's mean rate visibly, in their order; the
    one with the largest effect when none does."""
    change, baseline = _set_changes(model, recording, layer, chosen, gain, batch_size, progress)
    visible = (categories(change, baseline, recording_s, z_min) != 0).any(TYPE_DIM).values
    if visible.any():
        return [item for item, keep in zip(chosen, visible) if keep]
    z = effect_z(by_type(change), by_type(baseline), recording_s, type_counts(baseline)).max(TYPE_DIM)
    return [chosen[int(np.argmax(z.values))]]


def _with_release(
    model: nn.Module,
    recording: LayerRecording,
    layer: str,
    chosen: list[Candidate],
    batch_size: int,
    progress: bool,
    recording_s: float,
    z_min: float,
) -> list[Candidate]:
    """The sets whose inhibitory outputs' block (:func:`released_change`) raises some cell type's
    mean rate visibly, in their order; none when no set does."""
    if not chosen:
        return []
    change, baseline = _set_changes(model, recording, layer, chosen, 0.0, batch_size, progress, released=True)
    visible = (categories(change, baseline, recording_s, z_min) != 0).any(TYPE_DIM).values
    return [item for item, keep in zip(chosen, visible) if keep]


def _predictions(
    model: nn.Module,
    recording: LayerRecording,
    layer: str,
    chosen: list[Candidate],
    released: list[bool],
    gain: float,
    n_shuffles: int,
    seed: int,
    batch_size: int,
    progress: bool,
    recording_s: float,
    z_min: float,
) -> xr.Dataset:
    """The CNN's predicted changes for every channel set and its shuffled controls; where
    ``released``, of a block of the set's inhibitory outputs only (:func:`released_change`)."""
    n_channels = recording.activation.shape[1]
    rng = np.random.default_rng(seed)
    permutations = [rng.permutation(n_channels) for _ in range(n_shuffles)]
    shuffled = [[tuple(sorted(int(p[c]) for c in item.channels)) for item in chosen] for p in permutations]
    unique = list(dict.fromkeys([item.channels for item in chosen] + [s for row in shuffled for s in row]))
    means = dict(zip(unique, scaled_mean_rates(model, recording, layer, unique, gain, batch_size, progress)))

    baseline = _baseline_rate(recording)
    cell_coords = {name: baseline[name] for name in baseline.coords}
    ids = [f"{layer}-{k}" for k in range(len(chosen))]
    inhibitory = np.asarray(released, dtype=bool)

    def blocked(changes: np.ndarray) -> np.ndarray:  # (..., hypothesis, cell)
        return np.where(inhibitory[:, None], released_change(changes), changes)

    change = xr.DataArray(
        blocked(np.stack([means[item.channels] for item in chosen]) - baseline.values),
        dims=("hypothesis", "cell"),
        coords={"hypothesis": ids, **cell_coords},
    )
    shape = (n_shuffles, len(chosen))
    shuffled_rates = np.array([[means[s] for s in row] for row in shuffled], dtype=float).reshape(*shape, baseline.size)
    shuffled_text = np.array([[_listed(s) for s in row] for row in shuffled], dtype=object).reshape(shape).astype(str)
    shuffled_change = xr.DataArray(
        blocked(shuffled_rates - baseline.values),
        dims=("shuffle", "hypothesis", "cell"),
        coords={"shuffle": np.arange(n_shuffles), "hypothesis": ids, **cell_coords},
    )
    effect = by_type(change)
    z = effect_z(effect, by_type(baseline), recording_s, type_counts(baseline)).max(TYPE_DIM)
    return xr.Dataset(
        {
            "layer": ("hypothesis", [layer] * len(chosen)),
            "reason": ("hypothesis", [item.reason for item in chosen]),
            "modes": ("hypothesis", [_listed(item.modes) for item in chosen]),
            "channels": ("hypothesis", [_listed(item.channels) for item in chosen]),
            "n_channels": ("hypothesis", [len(item.channels) for item in chosen]),
            "mode_usage": (
                "hypothesis",
                [item.usage for item in chosen],
                {"long_name": "summed fraction of samples where the set's modes are active"},
            ),
            "blocked_outputs": (
                "hypothesis",
                np.where(inhibitory, "inhibitory", "all").astype(str),
                {
                    "long_name": "the set's outputs blocked: all (channels silenced) or only those onto "
                    "the cells it inhibits (a receptor block)"
                },
            ),
            "baseline_rate": baseline.assign_attrs(units="Hz", long_name="mean rate of the unperturbed model"),
            "predicted_change": change.assign_attrs(
                units="Hz",
                long_name="mean rate with the channels zeroed (only "
                "onto the cells they inhibit, for "
                "blocked_outputs inhibitory) minus "
                "unperturbed",
            ),
            "affected": changed(change, baseline, recording_s, z_min),
            "predicted_effect": effect.assign_attrs(
                units="Hz", long_name="mean predicted change over the type's cells"
            ),
            "predicted_category": categories(change, baseline, recording_s, z_min),
            "effect_z": z.assign_attrs(long_name="largest type effect over its Poisson standard error"),
            "detectability": ("hypothesis", erf(z.values / math.sqrt(2))),
            "shuffled_channels": (("shuffle", "hypothesis"), shuffled_text),
            "shuffled_change": shuffled_change.assign_attrs(units="Hz"),
        }
    )


def _unmatched(ds: xr.Dataset) -> xr.Dataset:
    """Hypotheses without a reference circuit: no pathway, and confidence = detectability."""
    empty = ("hypothesis", [""] * ds.sizes["hypothesis"])
    ds = ds.assign(
        block=empty,
        pathway_name=empty,
        drug=empty,
        drug_also_blocks=empty,
        match_r=("hypothesis", np.full(ds.sizes["hypothesis"], np.nan)),
    )
    ds["confidence"] = ds["detectability"]
    ds.attrs["match"] = "none (no virtual retina)"
    return ds


def _matched(
    ds: xr.Dataset, matched: PathwayMatch, match_stimulus: xr.DataArray, retina, chosen: list[Candidate], match: str
) -> xr.Dataset:
    """Name every (merged) channel set's pathway and the drug that blocks it."""
    sets = [item.channels for item in chosen]
    correlation, partial, block = matched.correlation(sets), matched.partial(sets), matched.block(sets)
    names = matched.pathways
    pathways = [item.pathway for item in chosen]
    best = np.array([names.index(p) for p in pathways])
    drugs = [drugs_for(p, retina) if ds.attrs["gain"] == 0 else ("", "") for p in pathways]
    strength = {"block": block, "partial": partial, "correlation": correlation}[match][np.arange(len(best)), best]
    ds = ds.assign_coords(pathway=names).assign(
        pathway_correlation=(("hypothesis", "pathway"), correlation),
        pathway_partial_correlation=(("hypothesis", "pathway"), partial),
        pathway_block_correlation=(("hypothesis", "pathway"), block),
        block=("hypothesis", pathways),
        pathway_name=("hypothesis", [PATHWAY_NAMES.get(p, p) for p in pathways]),
        drug=("hypothesis", [d for d, _ in drugs]),
        drug_also_blocks=("hypothesis", [a for _, a in drugs]),
        match_r=("hypothesis", strength),
    )
    ds["confidence"] = ds["match_r"].clip(min=0) * ds["detectability"]
    rule = {
        "block": "multiple partial correlation with the activities each block silences (the pathway and the "
        "interneurons it excites; the other pathways held fixed)",
        "partial": "partial correlation (other pathways held fixed)",
        "correlation": "correlation",
    }[match]
    ds.attrs.update(
        match=f"{rule} of summed channel activity with pathway activity at the cells' positions; "
        "channel sets matched to one pathway are merged",
        match_rule=match,
        match_stimulus=str(match_stimulus.attrs.get("kind", "unknown")),
        match_stimulus_seed=int(match_stimulus.attrs.get("seed", -1)),
    )
    return ds


def combine(hypotheses: Sequence[xr.Dataset]) -> xr.Dataset:
    """Join hypotheses of several layers (same model and stimulus) along ``hypothesis``.

    Raises
    ------
    RetinaCodecError
        If the inputs are not hypotheses Datasets or their cells or shuffles differ.
    """
    if not hypotheses or any(not isinstance(h, xr.Dataset) or h.attrs.get("kind") != KIND for h in hypotheses):
        raise RetinaCodecError("expected a non-empty list of Datasets from retinacodec.hypotheses.generate()")
    first = hypotheses[0]
    for other in hypotheses[1:]:
        if not np.allclose(first["baseline_rate"].values, other["baseline_rate"].values) or first.sizes.get(
            "shuffle"
        ) != other.sizes.get("shuffle"):
            raise RetinaCodecError(
                "the hypotheses differ in cells, stimulus or shuffles; expected one model and stimulus"
            )
    # join="outer": a layer matched to fewer pathways gets NaN for the others (stated, so xarray's
    # coming change of the default to "exact" does not turn this into an error)
    joined = xr.concat(
        hypotheses,
        dim="hypothesis",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop_conflicts",
    )
    joined.attrs["layer"] = ", ".join(dict.fromkeys(str(h.attrs.get("layer")) for h in hypotheses))
    return joined
