"""From contribution modes to testable hypotheses: which pathway a mode's channels stand for, what
blocking it should do to each ganglion cell, and how sure the prediction is.

:func:`generate` orchestrates the stages: candidate channel sets (:mod:`.candidates`), their match
to the virtual retina's pathways (:mod:`.match`) and the CNN's predictions (:mod:`.predict`). The
method is explained in ``docs/concepts/hypotheses-method.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import xarray as xr
from torch import nn

from .. import __version__
from ..control.recorded import PassCache, record_layer
from ..errors import RetinaCodecError
from ..models.adapter import adapt
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import modes_layer
from ..stimuli.base import validate_stimulus
from .candidates import Candidate, candidates, merge_by_pathway, mode_table, split_by_pathway, trim_to_pathway
from .match import PATHWAY_NAMES, PathwayMatch, PathwayMatchAmong, drugs_for, inhibitory_pathways
from .predict import LayerPasses, predictions, with_effect, with_release
from .settings import HypothesisSettings

KIND = "hypotheses"
"""Value of the ``kind`` attr of a hypotheses Dataset."""
CANDIDATES_PER_HYPOTHESIS = 2
"""Channel sets considered per hypothesis kept: sets matched to one pathway are merged, so more
sets than hypotheses are matched first."""


def _modes_variable(modes: Modes | SAE | xr.Dataset | xr.DataArray) -> str:
    """What the modes decompose (``"contribution"`` or ``"activation"``; contribution when unrecorded)."""
    return Modes.coerce(modes).variable or "contribution"


def generate(
    model: nn.Module,
    stimulus: xr.DataArray,
    modes: Modes | SAE | xr.Dataset | xr.DataArray,
    layer: str,
    *,
    virtual_retina=None,
    match_stimulus: xr.DataArray | None = None,
    settings: HypothesisSettings | None = None,
    progress: bool = True,
    cache: PassCache | None = None,
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
    settings : HypothesisSettings, optional
        The intervention, how sets are chosen and matched, when a change counts, the shuffled
        controls and the batch size; the defaults when omitted.
    progress : bool
        Show progress bars.
    cache : PassCache, optional
        Passes shared with other calls of the same analysis; by default the call's own.

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
        For an unknown layer, modes of another layer, or stimuli that do not fit.

    Notes
    -----
    The predicted change of cell :math:`i` is :math:`\\hat\\Delta_i = \\bar r_i^{\\,\\text{ablated}} - \\bar r_i`,
    its mean rate with the set's channels scaled by ``settings.gain`` minus its unperturbed mean
    rate. The confidence is :math:`\\max(\\rho^*, 0) \\cdot \\operatorname{erf}(z / \\sqrt 2)`, with
    :math:`\\rho^*` the set's match value and :math:`z` its largest type effect in Poisson standard
    errors (:func:`~retinacodec.hypotheses.effects.effect_z`). The match, the splitting, trimming and
    merging of sets, the effect filter and the inhibitory-output hypotheses are explained in the
    documentation (``docs/concepts/hypotheses-method.md``).
    """
    settings = HypothesisSettings() if settings is None else settings
    stimulus = validate_stimulus(stimulus)
    table = mode_table(modes)
    modes_layer(table.weights, layer, adapt(model))
    retina = virtual_retina if virtual_retina is not None else getattr(model, "virtual_retina", None)
    chosen = candidates(table, settings.channel_fraction, CANDIDATES_PER_HYPOTHESIS * settings.max_hypotheses)
    if not chosen:
        raise RetinaCodecError("every mode is dead or empty; expected fitted modes with non-zero atoms")
    # a set kept is silenced once, for the effect filter and its prediction
    with nullcontext(cache) if cache is not None else PassCache() as cache:
        recording = record_layer(model, stimulus, layer, settings.batch_size, progress, cache=cache)
        n_channels = recording.activation.shape[1]
        if table.weights.sizes["channel"] != n_channels:
            raise RetinaCodecError(
                f"the modes have {table.weights.sizes['channel']} channels; layer {layer!r} has {n_channels}"
            )
        matched = None
        if retina is not None:
            match_recording = (
                record_layer(
                    model, validate_stimulus(match_stimulus), layer, settings.batch_size, progress, cache=cache
                )
                if match_stimulus is not None
                else recording
            )
            matched = PathwayMatch.of(match_recording, retina, progress, cache)
        passes = LayerPasses(model, recording, layer, settings.batch_size, progress, cache)
        chosen, released = _selected(passes, chosen, matched, retina, settings)
        ds = predictions(passes, chosen, released, settings)
    ds.attrs.update(_provenance(model, stimulus, modes, layer, settings))
    if matched is None:
        return _unmatched(ds)
    stimulus_used = match_stimulus if match_stimulus is not None else stimulus
    return _matched(ds, matched, stimulus_used, retina, chosen, settings.match)


def _provenance(
    model: nn.Module, stimulus: xr.DataArray, modes, layer: str, settings: HypothesisSettings
) -> dict[str, object]:
    """The attrs of a hypotheses Dataset: kind, intervention, model, layer, stimulus and settings."""
    return {
        "kind": KIND,
        "intervention": "block" if settings.gain == 0 else f"scale by {settings.gain:g}",
        "gain": settings.gain,
        "model": str(getattr(model, "name", type(model).__name__)),
        "layer": layer,
        "modes_variable": _modes_variable(modes),
        "stimulus": str(stimulus.attrs.get("kind", "unknown")),
        "stimulus_seed": int(stimulus.attrs.get("seed", -1)),
        "stimulus_frames": int(stimulus.sizes["time"]),
        "model_history": int(getattr(model, "history", 1)),
        "channel_fraction": settings.channel_fraction,
        "split_by_pathway": int(settings.split),
        "trim_to_pathway": int(settings.trim),
        "require_effect": int(settings.require_effect),
        "inhibitory": int(settings.inhibitory),
        "recording_s": settings.recording_s,
        "z_min": settings.z_min,
        "n_shuffles": settings.n_shuffles,
        "seed": settings.seed,
        "retinacodec_version": __version__,
    }


def _selected(
    passes: LayerPasses,
    candidate_sets: list[Candidate],
    matched: PathwayMatch | None,
    retina,
    settings: HypothesisSettings,
) -> tuple[list[Candidate], list[bool]]:
    """The sets that become hypotheses, and per set whether only its inhibitory outputs are blocked.

    Narrowed to the pathways (``settings.split``, ``settings.trim``) when matched, kept when their
    intervention has a visible effect (``settings.require_effect``), merged by pathway and cut to
    ``settings.max_hypotheses``; then, with ``settings.inhibitory``, a retina and gain 0, the sets
    whose inhibitory outputs stand for an inhibitory pathway on their route.
    """
    chosen = candidate_sets if matched is None else _narrowed_to_pathways(candidate_sets, matched, settings)
    if settings.require_effect:
        chosen = with_effect(passes, chosen, settings)
    chosen = (merge_by_pathway(chosen, matched, settings.match) if matched is not None else chosen)[
        : settings.max_hypotheses
    ]
    inhibiting = (
        inhibitory_pathways(retina.connections, matched.pathways)
        if matched is not None and settings.inhibitory and settings.gain == 0
        else []
    )
    if matched is None or not inhibiting:
        return chosen, [False] * len(chosen)
    among = matched.among(inhibiting)
    inhibition = _on_route(_narrowed_to_pathways(candidate_sets, among, settings), among, settings.match)
    inhibition = with_release(passes, inhibition, settings)
    inhibition = _inhibitory_reasons(merge_by_pathway(inhibition, among, settings.match))
    return chosen + inhibition, [False] * len(chosen) + [True] * len(inhibition)


def _narrowed_to_pathways(chosen: list[Candidate], matched, settings: HypothesisSettings) -> list[Candidate]:
    """The sets split into the channels that follow each pathway of ``matched`` and trimmed to
    those that follow it most closely, as ``settings.split`` and ``settings.trim`` ask."""
    chosen = split_by_pathway(chosen, matched, settings.match) if settings.split else chosen
    return trim_to_pathway(chosen, matched, settings.match) if settings.trim else chosen


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
