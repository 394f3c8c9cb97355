"""The demo's headline numbers: :func:`summarize` computes them from the steps' results into a
:class:`DemoSummary`, which writes and reads ``summary.json``.

A field of the summary has the name of its ``summary.json`` key; per layer the key ends in
``_{layer}``, and the activation-mode control's keys end in ``_activation``. A number that is NaN
(e.g. a recovery score without any confidence) is None, as in the JSON.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ...attribution.completeness import completeness_summary
from ...control.curves.retina import curve_summary
from ...errors import RetinaCodecError
from ...hypotheses.ceiling import named_ceiling
from ...hypotheses.score import recovery_score, type_calls
from .section_numbers import (
    Number,
    PhenomenaRecord,
    PreferredRecord,
    TestStimuliRecord,
    phenomena_record,
    preferred_record,
    test_stimuli_record,
)
from .section_numbers import json_number as _number

OUTCOMES = ("confirmed", "confirmed (no change)", "partly confirmed", "refuted")
"""Outcomes of a tested hypothesis (see :func:`retinacodec.hypotheses.score`)."""

KINDS = {"all": "whole set", "inhibitory": "inhibitory outputs"}
"""Kinds of hypotheses by their ``blocked_outputs``: a set silenced, or only its outputs onto the
cells it inhibits (:func:`~retinacodec.hypotheses.generate.generate`)."""


@dataclass(frozen=True)
class LayerSummary:
    """The numbers of one analysed layer (``summary.json`` keys: the field name, then ``_{layer}``)."""

    completeness_error_max_hz: Number
    """Largest absolute completeness error of the layer's contributions (Hz)."""
    completeness_error_median_relative: Number
    """Median completeness error relative to the rate change it explains."""
    sae_r2: Number
    """R² of the SAE of the contributions."""
    sae_r2_activation: Number
    """R² of the SAE of the activations."""
    control_specificity: dict[str, dict[str, Number]]
    """Intervention -> selection -> mean target specificity over targets and k."""
    control_specificity_se: dict[str, dict[str, Number]]
    """The same, its standard error."""
    control_losses: dict[str, dict[str, list[str]]]
    """Intervention -> target -> selections more specific than the contribution mode (mean over k);
    targets without one are left out."""
    control_beats: dict[str, dict[str, bool]]
    """Intervention -> other selection -> the contribution mode is more specific on average."""

    def head(self, layer: str) -> dict:
        """The ``summary.json`` entries written before the IRF numbers (completeness and SAE R²)."""
        return {f"{name}_{layer}": getattr(self, name) for name in _names(self)[:4]}

    def tail(self, layer: str) -> dict:
        """The ``summary.json`` entries written after the IRF numbers (control curves)."""
        return {f"{name}_{layer}": _plain(getattr(self, name)) for name in _names(self)[4:]}

    @classmethod
    def from_dict(cls, data: dict, layer: str) -> LayerSummary:
        """The layer's numbers from ``summary.json``'s contents."""
        return cls(**{name: data[f"{name}_{layer}"] for name in _names(cls)})


@dataclass(frozen=True)
class KindRecovery:
    """The hypotheses of one kind (a value of :data:`KINDS`)."""

    n: int
    """How many."""
    recovery: Number
    """Their recovery score (confidence-weighted mean type agreement)."""
    confirmed: int
    """How many are confirmed (with or without a change)."""


@dataclass(frozen=True)
class PathwayCoverage:
    """The hypotheses naming one pathway of the virtual retina."""

    hypotheses: int
    """How many name it."""
    confirmed: int
    """How many of those are confirmed."""


@dataclass(frozen=True)
class TestedHypotheses:
    """One kind of modes' hypotheses tested on the virtual retina (``summary.json`` keys: the field
    name, then ``_activation`` for the activation modes)."""

    recovery_score: Number
    """Confidence-weighted mean type agreement."""
    recovery_score_shuffled: Number
    """The same with the channels shuffled (mean over shuffles)."""
    recovery_by_kind: dict[str, KindRecovery]
    """Per kind of hypothesis that occurs (:func:`recovery_by_kind`)."""
    outcomes: dict[str, int]
    """Count per outcome (:data:`OUTCOMES`)."""
    agreement: dict[str, dict[str, Number]]
    """Measure -> ``modes`` or ``shuffled`` -> confidence-weighted mean."""
    recovery_ceiling_named: Number
    """The score of the same hypotheses with the best set of their layer for their pathway
    (:func:`~retinacodec.hypotheses.ceiling.named_ceiling`)."""
    pathways_covered: int
    """Pathways a confirmed hypothesis names."""
    coverage: dict[str, PathwayCoverage]
    """Per pathway of the virtual retina."""

    def head(self, suffix: str) -> dict:
        """The ``summary.json`` entries before the ceiling: scores, outcomes, agreement, named ceiling."""
        return {f"{name}{suffix}": _plain(getattr(self, name)) for name in _names(self)[:6]}

    def tail(self, suffix: str) -> dict:
        """The ``summary.json`` entries of the pathway coverage."""
        return {f"{name}{suffix}": _plain(getattr(self, name)) for name in _names(self)[6:]}

    @classmethod
    def from_dict(cls, data: dict, suffix: str) -> TestedHypotheses:
        """The tested hypotheses' numbers from ``summary.json``'s contents."""
        values = {name: data[f"{name}{suffix}"] for name in _names(cls)}
        values["recovery_by_kind"] = {k: KindRecovery(**v) for k, v in values["recovery_by_kind"].items()}
        values["coverage"] = {p: PathwayCoverage(**v) for p, v in values["coverage"].items()}
        return cls(**values)


@dataclass(frozen=True)
class CeilingSummary:
    """What the best channel sets of up to ``ceiling_channels`` channels reach per pathway
    (:func:`~retinacodec.hypotheses.ceiling.pathway_ceiling`; it uses the outcomes)."""

    recovery_ceiling: Number
    """The ceiling's mean over pathways."""
    ceiling_channels: int
    """The largest set tried."""
    ceiling: dict[str, Number]
    """Pathway -> best type agreement of any set."""
    recovery_match_all_sets: Number
    """Mean over pathways of :attr:`match_all_sets`."""
    match_all_sets: dict[str, Number]
    """Pathway -> type agreement of the set of either layer that follows the pathway most closely,
    chosen from every small set by activity alone."""
    pathways_confirmable: int
    """Pathways whose ceiling is 1."""
    pathways_confirmable_assigned: int
    """Pathways whose :attr:`assigned_ceiling` is 1."""
    assigned_ceiling: dict[str, Number]
    """Pathway -> the ceiling over the sets the match assigns it (None where it assigns none)."""

    @classmethod
    def from_dict(cls, data: dict) -> CeilingSummary:
        """The ceiling's numbers from ``summary.json``'s contents."""
        return cls(**{name: data[name] for name in _names(cls)})


@dataclass(frozen=True)
class VirtualRetinaSummary:
    """The hypotheses tested on the virtual retina, against their controls and bounds."""

    contribution: TestedHypotheses
    """The hypotheses from contribution modes."""
    n_hypotheses_activation: int
    """How many hypotheses the activation modes gave (the control)."""
    activation: TestedHypotheses
    """The hypotheses from activation modes."""
    ceiling: CeilingSummary
    """The bounds from the best channel sets."""
    type_errors: dict[str, int]
    """The contribution-mode hypotheses' cell-type calls by kind (right, side effect, missed,
    wrong sign; :func:`~retinacodec.hypotheses.score.type_calls`, summed)."""
    side_effects: dict[str, dict[str, int]]
    """Named pathway -> cell type -> hypotheses predicting a change of that type the block does not cause."""
    hypotheses_shared_with_activation: int
    """Contribution-mode hypotheses that silence what an activation-mode one does (:func:`shared_hypotheses`)."""

    def to_dict(self) -> dict:
        """The ``summary.json`` entries after ``n_hypotheses``, in its order."""
        return {
            **self.contribution.head(""),
            **_plain(self.ceiling),
            "type_errors": dict(self.type_errors),
            "side_effects": _plain(self.side_effects),
            **self.contribution.tail(""),
            "n_hypotheses_activation": self.n_hypotheses_activation,
            **self.activation.head("_activation"),
            "hypotheses_shared_with_activation": self.hypotheses_shared_with_activation,
            **self.activation.tail("_activation"),
        }

    @classmethod
    def from_dict(cls, data: dict) -> VirtualRetinaSummary:
        """The tested hypotheses' numbers from ``summary.json``'s contents."""
        return cls(
            contribution=TestedHypotheses.from_dict(data, ""),
            n_hypotheses_activation=data["n_hypotheses_activation"],
            activation=TestedHypotheses.from_dict(data, "_activation"),
            ceiling=CeilingSummary.from_dict(data),
            type_errors=data["type_errors"],
            side_effects=data["side_effects"],
            hypotheses_shared_with_activation=data["hypotheses_shared_with_activation"],
        )


@dataclass(frozen=True)
class DemoSummary:
    """The headline numbers of a demo run, as ``summary.json`` holds them."""

    model_r: Number
    """Mean Pearson r over cells of the model's fit."""
    model_r_by_type: dict[str, Number]
    """The same per cell type."""
    layers: dict[str, LayerSummary]
    """Per analysed layer, in the run's order."""
    irf_explained: Number
    """Share of the IRFs' squared norm all kept modes explain."""
    irf_shown_share: Number
    """Cumulative share of the IRFs the shown modes carry."""
    n_hypotheses: int
    """How many hypotheses the contribution modes gave."""
    virtual_retina: VirtualRetinaSummary | None
    """Their test on the virtual retina; None for a recording (nothing to test against)."""
    machine: dict
    """The machine that wrote the summary (:func:`retinacodec.device.machine`)."""
    cell_types: dict[str, int] | None = None
    """Units per cell type of a recording (user, recorded or functional labels); None for the
    virtual retina, whose types are known."""
    preferred_stimuli: PreferredRecord | None = None
    """The stimuli the IRF cells' leading modes prefer; None for a run without them."""
    test_stimuli: TestStimuliRecord | None = None
    """The hypotheses' designed test stimuli; None for a run without them."""
    phenomena: PhenomenaRecord | None = None
    """The phenomena by mode; None for a run without them (a model at another frame rate)."""

    def to_dict(self) -> dict:
        """``summary.json``'s contents, keys in its order (each section's record where it has one)."""
        data = {"model_r": self.model_r, "model_r_by_type": dict(self.model_r_by_type)}
        if self.cell_types is not None:
            data["cell_types"] = dict(self.cell_types)
        for layer, numbers in self.layers.items():
            data |= numbers.head(layer)
        data |= {"irf_explained": self.irf_explained, "irf_shown_share": self.irf_shown_share}
        for layer, numbers in self.layers.items():
            data |= numbers.tail(layer)
        data |= _records(preferred_stimuli=self.preferred_stimuli)
        data["n_hypotheses"] = self.n_hypotheses
        if self.virtual_retina is not None:
            data |= self.virtual_retina.to_dict()
        data |= _records(test_stimuli=self.test_stimuli, phenomena=self.phenomena)
        return data | {"machine": dict(self.machine)}

    def to_json(self) -> str:
        """The text of ``summary.json``."""
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> DemoSummary:
        """The summary from ``summary.json``'s contents.

        Raises
        ------
        RetinaCodecError
            If an entry is missing or of the wrong kind.
        """
        try:
            layers = [key.removeprefix(_LAYER_KEY) for key in data if key.startswith(_LAYER_KEY)]
            return cls(
                model_r=data["model_r"],
                model_r_by_type=data["model_r_by_type"],
                layers={layer: LayerSummary.from_dict(data, layer) for layer in layers},
                irf_explained=data["irf_explained"],
                irf_shown_share=data["irf_shown_share"],
                n_hypotheses=data["n_hypotheses"],
                virtual_retina=VirtualRetinaSummary.from_dict(data) if "recovery_score" in data else None,
                machine=data["machine"],
                cell_types=data.get("cell_types"),
                preferred_stimuli=(
                    PreferredRecord.from_dict(data["preferred_stimuli"]) if _has(data, "preferred_stimuli") else None
                ),
                test_stimuli=TestStimuliRecord.from_dict(data["test_stimuli"]) if _has(data, "test_stimuli") else None,
                phenomena=PhenomenaRecord.from_dict(data["phenomena"]) if _has(data, "phenomena") else None,
            )
        except KeyError as exc:
            raise RetinaCodecError(f"the summary lacks {exc.args[0]!r}; expected summary.json of a demo run") from None
        except (TypeError, AttributeError) as exc:
            raise RetinaCodecError(f"malformed summary ({exc}); expected summary.json of a demo run") from None

    @classmethod
    def from_json(cls, text: str) -> DemoSummary:
        """The summary from the text of ``summary.json``.

        Raises
        ------
        RetinaCodecError
            If the text is not a JSON object with every entry of a demo run's summary.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RetinaCodecError(f"the summary is not JSON ({exc}); expected summary.json of a demo run") from None
        if not isinstance(data, dict):
            raise RetinaCodecError("the summary is not a JSON object; expected summary.json of a demo run")
        return cls.from_dict(data)


_LAYER_KEY = "completeness_error_max_hz_"
"""The first ``summary.json`` key of every layer, before the layer's name."""


def _has(data: dict, key: str) -> bool:
    """Whether ``summary.json``'s contents hold a record under ``key`` (runs from before it was kept do not)."""
    return data.get(key) is not None


def _records(**records) -> dict:
    """The records that are not None, as plain dicts."""
    return {key: _plain(record) for key, record in records.items() if record is not None}


def _names(item) -> list[str]:
    """Field names of a dataclass (or of an instance), in their order."""
    return [field.name for field in dataclasses.fields(item)]


def _plain(value):
    """Nested dataclasses, dicts and lists as plain dicts and lists (fresh copies)."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def summarize(found: dict, layers: tuple[str, ...], machine: dict) -> DemoSummary:
    """The headline numbers of a demo run.

    Parameters
    ----------
    found : dict
        Every step's outputs by name.
    layers : tuple of str
        The layers analysed.
    machine : dict
        The machine the summary is written on (:func:`retinacodec.device.machine`).

    Returns
    -------
    DemoSummary
        With the virtual-retina numbers when the hypotheses were tested.
    """
    r = found["fit"]["pearson_r"]
    hypotheses = found["hypotheses"]
    return DemoSummary(
        model_r=_number(r.mean()),
        model_r_by_type={
            t: _number(r.values[np.asarray(r["cell_type"].values) == t].mean())
            for t in dict.fromkeys(str(t) for t in r["cell_type"].values)
        },
        layers={layer: _layer(found, layer) for layer in layers},
        irf_explained=_number(found["irf"].attrs["explained_overall"]),
        irf_shown_share=_number(found["irf"].attrs["shown_share_overall"]),
        n_hypotheses=int(hypotheses.sizes["hypothesis"]),
        virtual_retina=_virtual_retina(found) if "recovery_score" in hypotheses else None,
        machine=dict(machine),
        cell_types=_type_counts(found["cell_types"]) if "cell_types" in found else None,
        preferred_stimuli=preferred_record(found),
        test_stimuli=test_stimuli_record(found["test_stimuli"]) if "test_stimuli" in found else None,
        phenomena=_phenomena(found),
    )


def _phenomena(found: dict) -> PhenomenaRecord | None:
    """The record of the phenomena by mode, with their block test where there is one; None without them."""
    if "phenomena" not in found:
        return None
    return phenomena_record(found["phenomena"], found.get("phenomena_checked"))


def _type_counts(types: xr.Dataset) -> dict[str, int]:
    """Units per label, in the order the labels first appear."""
    labels = [str(t) for t in types["cell_type"].values]
    return {label: labels.count(label) for label in dict.fromkeys(labels)}


def _layer(found: dict, layer: str) -> LayerSummary:
    """Completeness, SAE fits and control curves of one layer."""
    completeness = completeness_summary(found[f"contributions_{layer}"])
    curves = found[f"control_{layer}"]
    summary_ = curve_summary(curves)
    selections, interventions = summary_["selection"].values, summary_["intervention"].values
    others = [str(s) for s in selections if s != "contribution"]
    return LayerSummary(
        completeness_error_max_hz=_number(completeness["max_error"]),
        completeness_error_median_relative=_number(completeness["median_relative_error"]),
        sae_r2=_number(found[f"modes_{layer}"]["r2"]),
        sae_r2_activation=_number(found[f"modes_activation_{layer}"]["r2"]),
        control_specificity={
            str(i): {str(s): _number(summary_["mean_specificity"].sel(intervention=i, selection=s)) for s in selections}
            for i in interventions
        },
        control_specificity_se={
            str(i): {
                str(s): _number(summary_["mean_specificity_se"].sel(intervention=i, selection=s)) for s in selections
            }
            for i in interventions
        },
        control_losses=_losses(curves),
        control_beats={
            str(i): {s: bool(summary_["beats"].sel(intervention=i, selection=s)) for s in others} for i in interventions
        },
    )


def _losses(curves: xr.Dataset) -> dict[str, dict[str, list[str]]]:
    """intervention -> target -> selections whose mean specificity over k beats the contribution mode's."""
    mean = curves["specificity"].mean("k")
    others = [str(s) for s in curves["selection"].values if s != "contribution"]
    result = {}
    for intervention in curves["intervention"].values:
        per = mean.sel(intervention=intervention)
        better = {
            str(t): [
                s
                for s in others
                if float(per.sel(target=t, selection=s)) > float(per.sel(target=t, selection="contribution"))
            ]
            for t in curves["target"].values
        }
        result[str(intervention)] = {t: names for t, names in better.items() if names}
    return result


def _virtual_retina(found: dict) -> VirtualRetinaSummary:
    """The numbers of hypotheses tested on the virtual retina, with the activation-mode control and
    the ceiling."""
    hypotheses, activation, ceiling = found["hypotheses"], found["hypotheses_activation"], found["ceiling"]
    type_errors, side_effects = _error_counts(hypotheses)
    return VirtualRetinaSummary(
        contribution=_tested(hypotheses, found["coverage"], ceiling),
        n_hypotheses_activation=int(activation.sizes["hypothesis"]),
        activation=_tested(activation, found["coverage_activation"], ceiling),
        ceiling=_ceiling(ceiling),
        type_errors=type_errors,
        side_effects=side_effects,
        hypotheses_shared_with_activation=shared_hypotheses(hypotheses, activation),
    )


def _tested(hypotheses: xr.Dataset, coverage: xr.Dataset, ceiling: xr.Dataset) -> TestedHypotheses:
    """Recovery scores, outcomes, agreement and pathway coverage of one kind of modes' hypotheses."""
    outcomes = [str(o) for o in hypotheses["outcome"].values]
    weighted = hypotheses["weighted_score"]
    return TestedHypotheses(
        recovery_score=_number(hypotheses["recovery_score"]),
        recovery_score_shuffled=_number(hypotheses["recovery_score_shuffled"]),
        recovery_by_kind=recovery_by_kind(hypotheses),
        outcomes={o: outcomes.count(o) for o in OUTCOMES},
        agreement={
            str(m): {str(s): _number(weighted.sel(measure=m, selection=s)) for s in weighted["selection"].values}
            for m in weighted["measure"].values
        },
        recovery_ceiling_named=_number(named_ceiling(hypotheses, ceiling)),
        pathways_covered=int(coverage.attrs["n_covered"]),
        coverage={
            str(p): PathwayCoverage(
                hypotheses=int(coverage["n_hypotheses"].sel(pathway=p)),
                confirmed=int(coverage["n_confirmed"].sel(pathway=p)),
            )
            for p in coverage["pathway"].values
        },
    )


def _ceiling(ceiling: xr.Dataset) -> CeilingSummary:
    """The ceiling per pathway and its bounds on the pathways a confirmed hypothesis could name."""
    pathways = ceiling["pathway"].values
    return CeilingSummary(
        recovery_ceiling=_number(ceiling.attrs["mean_ceiling"]),
        ceiling_channels=int(ceiling.attrs["max_size"]),
        ceiling={str(p): _number(ceiling["ceiling"].sel(pathway=p)) for p in pathways},
        recovery_match_all_sets=_number(ceiling.attrs["mean_match_agreement"]),
        match_all_sets={str(p): _number(ceiling["match_agreement"].sel(pathway=p)) for p in pathways},
        pathways_confirmable=int(ceiling.attrs["n_confirmable"]),
        pathways_confirmable_assigned=int(ceiling.attrs["n_confirmable_assigned"]),
        assigned_ceiling={str(p): _number(ceiling["assigned_ceiling"].sel(pathway=p)) for p in pathways},
    )


def hypothesis_kinds(hypotheses: xr.Dataset) -> list[str]:
    """The kind (a value of :data:`KINDS`) of every hypothesis."""
    return [KINDS[str(o)] for o in hypotheses["blocked_outputs"].values]


def recovery_by_kind(tested: xr.Dataset) -> dict[str, KindRecovery]:
    """Per kind of hypothesis (:func:`hypothesis_kinds`) that occurs, in the order of :data:`KINDS`:
    how many, their recovery score (None without confidence) and how many are confirmed."""
    kinds = np.array(hypothesis_kinds(tested))
    result = {}
    for kind in KINDS.values():
        rows = tested.isel(hypothesis=np.flatnonzero(kinds == kind))
        if rows.sizes["hypothesis"]:
            score = recovery_score(rows["type_agreement"], rows["confidence"])
            result[kind] = KindRecovery(
                n=int(rows.sizes["hypothesis"]),
                recovery=_number(score),
                confirmed=int(sum(str(o).startswith("confirmed") for o in rows["outcome"].values)),
            )
    return result


def _error_counts(hypotheses: xr.Dataset) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Cell-type calls of tested hypotheses by kind (:func:`~retinacodec.hypotheses.score.type_calls`,
    summed), and the side effects per named pathway: pathway -> cell type -> hypotheses."""
    calls = type_calls(hypotheses["predicted_category"], hypotheses["observed_category"])
    totals = calls.sum(("hypothesis", "type"))
    side = calls.sel(error="side effect")
    effects: dict[str, dict[str, int]] = {}
    for block, row in zip(hypotheses["block"].values, side.values):
        for cell_type, hit in zip(side["type"].values, row):
            if hit:
                per_type = effects.setdefault(str(block), {})
                per_type[str(cell_type)] = per_type.get(str(cell_type), 0) + 1
    return {str(e): int(totals.sel(error=e)) for e in totals["error"].values}, effects


def _silenced_sets(hypotheses: xr.Dataset) -> set[tuple[str, str, str]]:
    """(layer, channels, kind) of every hypothesis (:func:`hypothesis_kinds`)."""
    return set(
        zip(map(str, hypotheses["layer"].values), map(str, hypotheses["channels"].values), hypothesis_kinds(hypotheses))
    )


def shared_hypotheses(hypotheses: xr.Dataset, activation: xr.Dataset) -> int:
    """How many contribution-mode hypotheses silence the same channels of the same layer, in the same
    way (:func:`hypothesis_kinds`), as an activation-mode hypothesis."""
    return len(_silenced_sets(hypotheses) & _silenced_sets(activation))
