"""The numbers of the demo's later sections (test stimuli, stimuli the modes prefer, phenomena by
mode): the helpers their report sections write from, and the compact records ``summary.json``
keeps of them (:func:`test_stimuli_record`, :func:`preferred_record`, :func:`phenomena_record`).

A number that is NaN is None in a record, as in the JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ...hypotheses.design_check import target_z

Number = float | None
"""A finite float, or None for NaN or infinity."""

VERDICTS = ("confirmed", "refuted", "no mode carries it")
"""Verdicts of a phenomenon's block test (:func:`retinacodec.hypotheses.check_phenomena`)."""


def json_number(value) -> Number:
    """``value`` as a float; None where it is not finite (valid JSON)."""
    value = float(value)
    return value if np.isfinite(value) else None


def stimulus_seconds(ds: xr.Dataset, variable: str) -> float:
    """Length (s) of the stimuli of ``ds``: its frames over ``variable``'s frame rate (100 Hz unless given)."""
    return ds.sizes["time"] / float(ds[variable].attrs.get("frame_rate_hz", 100.0))


def aimed_at(designs: xr.Dataset, name: str) -> dict[str, int]:
    """Cell type -> predicted direction (+1, -1) of the types hypothesis ``name``'s stimulus aims at."""
    target = designs["design_target"].sel(hypothesis=name)
    return {str(t): int(s) for t, s in zip(target["type"].values, target.values) if s}


def predicted_z(designs: xr.Dataset) -> dict[str, xr.DataArray]:
    """``designed`` and (where recorded) ``jitter`` -> (hypothesis) the aimed-at types' z in the CNN
    (:func:`~retinacodec.hypotheses.design_check.target_z`)."""
    kinds = [name for name in ("designed", "jitter") if f"{name}_z" in designs]
    return {name: target_z(designs[f"{name}_z"], designs["design_target"]) for name in kinds}


def median_ratio(designs: xr.Dataset) -> float:
    """Median over the hypotheses of the retina's z under the designed stimulus over that under
    jitter (finite ratios only; NaN without one)."""
    ratios = designs["observed_ratio"].values
    finite = ratios[np.isfinite(ratios)]
    return float(np.median(finite)) if finite.size else np.nan


@dataclass(frozen=True)
class Leading:
    """One phenomenon in one cell type of the CNN, by mode (NaN where undefined)."""

    contrast: float
    """The type's mean response contrast (Hz)."""
    mode: int
    """The mode with the largest share; -1 for none."""
    share: float
    """Its share of the contrast."""
    pathway: str
    """Its matched pathway; "" for none or a run without matching."""
    pathway_share: float
    """Share of all modes matched to that pathway."""
    unassigned: float
    """Share through channels no active mode uses."""


def leading(by_mode: xr.Dataset, phenomenon: str, cell_type: str) -> Leading:
    """The leading mode of ``phenomenon`` in ``cell_type`` (:func:`~retinacodec.hypotheses.phenomena_by_mode`)."""
    row = by_mode.sel(phenomenon=phenomenon, cell_type=cell_type)
    contrast, mode = float(row["contrast"]), int(row["leading_mode"])
    named = "pathway" in by_mode and mode >= 0
    pathway = str(by_mode["pathway"].sel(mode=mode).values) if named else ""
    return Leading(
        contrast=contrast,
        mode=mode,
        share=float(row["share"].sel(mode=mode)) if mode >= 0 else np.nan,
        pathway=pathway,
        pathway_share=float(row["share"].where(by_mode["pathway"] == pathway).sum()) if pathway else np.nan,
        unassigned=float(row["unassigned"]) / contrast if contrast else np.nan,
    )


def interval(ds: xr.Dataset, name: str, control: str | None = None) -> tuple[float, float, float]:
    """(mean, low, high) of ``{name}_mean``, ``_low`` and ``_high`` of one claim, at ``control`` if given."""
    pick = {} if control is None else {"control": control}
    mean, low, high = (float(ds[f"{name}_{part}"].sel(pick)) for part in ("mean", "low", "high"))
    return mean, low, high


def verdict_counts(checked: xr.Dataset) -> dict[str, int]:
    """Claims per verdict (:data:`VERDICTS`)."""
    verdicts = checked["verdict"].values
    return {verdict: int((verdicts == verdict).sum()) for verdict in VERDICTS}


@dataclass(frozen=True)
class DesignedTest:
    """One hypothesis's designed test stimulus: the aimed-at types' change in standard errors,
    signed by the predicted direction."""

    aimed_at: dict[str, int]
    """Cell type -> predicted direction (+1, -1)."""
    cnn_z_designed: Number
    """In the CNN, under the designed stimulus."""
    cnn_z_jitter: Number
    """In the CNN, under natural jitter of the same length."""
    retina_z_designed: Number = None
    """In the virtual retina, under the designed stimulus (None when not checked)."""
    retina_z_jitter: Number = None
    """In the virtual retina, under the jitter."""
    ratio: Number = None
    """The retina's z designed over jitter."""


@dataclass(frozen=True)
class TestStimuliRecord:
    """The hypotheses' designed test stimuli (``summary.json`` key ``test_stimuli``)."""

    seconds: float
    """Length of each stimulus (s)."""
    steps: int
    """Adam steps of the design."""
    seed: int
    """Seed of the design."""
    jitter_seed: int
    """Seed of the natural jitter compared with (-1 if unknown)."""
    recording_s: float
    """Recording per condition the standard errors are of (s)."""
    checked: bool
    """Whether the virtual retina checked them."""
    median_ratio: Number
    """Median over hypotheses of :attr:`DesignedTest.ratio` (None when not checked)."""
    hypotheses: dict[str, DesignedTest]
    """Per hypothesis."""

    @classmethod
    def from_dict(cls, data: dict) -> TestStimuliRecord:
        """The record from its ``summary.json`` entry."""
        tests = {name: DesignedTest(**test) for name, test in data["hypotheses"].items()}
        return cls(**(data | {"hypotheses": tests}))


def test_stimuli_record(designs: xr.Dataset) -> TestStimuliRecord:
    """The record of the designed test stimuli (:func:`~retinacodec.hypotheses.design.design_tests`,
    checked or not)."""
    checked = "observed_ratio" in designs
    predicted = predicted_z(designs)
    tests = {}
    for name in map(str, designs["hypothesis"].values):
        z = {kind: json_number(values.sel(hypothesis=name)) for kind, values in predicted.items()}
        observed = (
            {
                "retina_z_designed": json_number(designs["observed_designed_target_z"].sel(hypothesis=name)),
                "retina_z_jitter": json_number(designs["observed_jitter_target_z"].sel(hypothesis=name)),
                "ratio": json_number(designs["observed_ratio"].sel(hypothesis=name)),
            }
            if checked
            else {}
        )
        tests[name] = DesignedTest(
            aimed_at=aimed_at(designs, name),
            cnn_z_designed=z.get("designed"),
            cnn_z_jitter=z.get("jitter"),
            **observed,
        )
    return TestStimuliRecord(
        seconds=stimulus_seconds(designs, "test_stimulus"),
        steps=int(designs.attrs["design_steps"]),
        seed=int(designs.attrs["design_seed"]),
        jitter_seed=int(designs.attrs.get("jitter_seed", -1)),
        recording_s=float(designs.attrs["recording_s"]),
        checked=checked,
        median_ratio=json_number(median_ratio(designs)) if checked else None,
        hypotheses=tests,
    )


@dataclass(frozen=True)
class PreferredMode:
    """One mode's preferred stimulus, and the cell's most exciting input, seen by that mode."""

    loading: Number
    """The mode's loading under its preferred stimulus."""
    share: Number
    """Its share of the SAE's reconstruction there."""
    mei_loading: Number
    """Its loading under the cell's most exciting input."""
    mei_share: Number
    """Its share there."""
    rate_hz: Number
    """The cell's rate under the preferred stimulus (Hz)."""
    irf_correlation: Number
    """Correlation of the preferred stimulus with the mode's IRF."""


@dataclass(frozen=True)
class PreferredCell:
    """One IRF cell: its most exciting input and its leading modes' preferred stimuli."""

    cell_type: str
    """The cell's type."""
    mei_rate_hz: Number
    """Its rate under the most exciting input (Hz)."""
    mei_irf_correlation: Number
    """Correlation of the most exciting input with the cell's IRF."""
    modes: dict[str, PreferredMode]
    """Mode number (as text) -> its numbers, leading mode first."""


@dataclass(frozen=True)
class PreferredRecord:
    """The stimuli the modes prefer (``summary.json`` key ``preferred_stimuli``)."""

    layer: str
    """The layer whose modes they are."""
    seconds: float
    """Length of each stimulus (s)."""
    steps: int
    """Adam steps of each."""
    seed: int
    """Seed of the ascent."""
    cells: dict[str, PreferredCell]
    """Cell number (as text) -> its numbers."""

    @classmethod
    def from_dict(cls, data: dict) -> PreferredRecord:
        """The record from its ``summary.json`` entry."""
        cells = {
            cell: PreferredCell(**(c | {"modes": {m: PreferredMode(**v) for m, v in c["modes"].items()}}))
            for cell, c in data["cells"].items()
        }
        return cls(**(data | {"cells": cells}))


def _preferred_cell(ds: xr.Dataset) -> PreferredCell:
    """The numbers of one ``preferred_cell<N>`` result (:func:`~retinacodec.hypotheses.preferred_stimuli`)."""
    modes = {}
    for m in ds["mode"].values:
        row = ds.sel(mode=m)
        modes[str(int(m))] = PreferredMode(
            loading=json_number(row["preferred_loading"]),
            share=json_number(row["preferred_share"]),
            mei_loading=json_number(row["mei_loading"]),
            mei_share=json_number(row["mei_share"]),
            rate_hz=json_number(row["preferred_rate"]),
            irf_correlation=json_number(row["irf_correlation"]),
        )
    return PreferredCell(
        cell_type=str(ds["cell_type"].values),
        mei_rate_hz=json_number(ds["mei_rate"]),
        mei_irf_correlation=json_number(ds["mei_irf_correlation"]),
        modes=modes,
    )


def preferred_record(found: dict) -> PreferredRecord | None:
    """The record of the ``preferred_cell<N>`` results among ``found``; None without any."""
    keys = [key for key in found if key.startswith("preferred_cell")]
    if not keys:
        return None
    first = found[keys[0]]
    return PreferredRecord(
        layer=str(first.attrs["layer"]),
        seconds=stimulus_seconds(first, "most_exciting_input"),
        steps=int(first.attrs["design_steps"]),
        seed=int(first.attrs["design_seed"]),
        cells={str(int(found[key]["cell"])): _preferred_cell(found[key]) for key in keys},
    )


@dataclass(frozen=True)
class PhenomenonInCNN:
    """One phenomenon in one cell type of the CNN (:class:`Leading`, NaN as None)."""

    contrast_hz: Number
    """The type's mean response contrast (Hz)."""
    leading_mode: int
    """The mode with the largest share; -1 for none."""
    leading_share: Number
    """Its share of the contrast."""
    pathway: str | None
    """Its matched pathway; None for none."""
    pathway_share: Number
    """Share of all modes matched to that pathway."""
    unassigned: Number
    """Share through channels no active mode uses."""


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its interval."""

    mean: Number
    low: Number
    high: Number


@dataclass(frozen=True)
class PhenomenonClaim:
    """One claim (a phenomenon the virtual retina shows in a type) and its block test."""

    phenomenon: str
    """The phenomenon."""
    cell_type: str
    """The type showing it."""
    measure: str
    """How it is measured."""
    shown: Number
    """Its size in the unblocked retina (mean over seeds)."""
    leading_mode: int
    """The CNN's leading mode."""
    block: str | None
    """That mode's pathway, blocked to test the claim; None for none."""
    removed: Interval
    """Fraction of the phenomenon the block removes."""
    control_removed: dict[str, Number]
    """Control pathway -> fraction its block removes (mean)."""
    difference: dict[str, Interval]
    """Control pathway -> the block's fraction minus the control's."""
    verdict: str
    """One of :data:`VERDICTS`."""


@dataclass(frozen=True)
class PhenomenaRecord:
    """The phenomena by mode (``summary.json`` key ``phenomena``)."""

    layer: str
    """The layer whose modes carry them."""
    oms_seed: int
    """Seed of the CNN's object-motion stimulus."""
    completeness_error_max_hz: Number
    """Largest absolute completeness error of the contributions (Hz)."""
    cnn: dict[str, dict[str, PhenomenonInCNN]]
    """Phenomenon -> cell type -> its leading mode."""
    seeds: list[int] | None = None
    """Fresh seeds of the block test; None without a virtual retina (as are the rest)."""
    min_reduction: Number = None
    """Least fraction a confirming block removes."""
    level: Number = None
    """Level of the intervals."""
    trials: int | None = None
    """Flash repeats of each onset response."""
    verdicts: dict[str, int] | None = None
    """Claims per verdict (:data:`VERDICTS`)."""
    claims: list[PhenomenonClaim] | None = None
    """Each claim."""

    @classmethod
    def from_dict(cls, data: dict) -> PhenomenaRecord:
        """The record from its ``summary.json`` entry."""
        cnn = {p: {t: PhenomenonInCNN(**v) for t, v in types.items()} for p, types in data["cnn"].items()}
        claims = None
        if data.get("claims") is not None:
            claims = [
                PhenomenonClaim(
                    **(
                        c
                        | {
                            "removed": Interval(**c["removed"]),
                            "difference": {k: Interval(**v) for k, v in c["difference"].items()},
                        }
                    )
                )
                for c in data["claims"]
            ]
        return cls(**(data | {"cnn": cnn, "claims": claims}))


def _in_cnn(by_mode: xr.Dataset, phenomenon: str, cell_type: str) -> PhenomenonInCNN:
    found = leading(by_mode, phenomenon, cell_type)
    return PhenomenonInCNN(
        contrast_hz=json_number(found.contrast),
        leading_mode=found.mode,
        leading_share=json_number(found.share),
        pathway=found.pathway or None,
        pathway_share=json_number(found.pathway_share),
        unassigned=json_number(found.unassigned),
    )


def _interval_record(ds: xr.Dataset, name: str, control: str | None = None) -> Interval:
    return Interval(*map(json_number, interval(ds, name, control)))


def _claim(row: xr.Dataset, controls: list[str]) -> PhenomenonClaim:
    """One row of :func:`~retinacodec.hypotheses.check_phenomena`'s result."""
    return PhenomenonClaim(
        phenomenon=str(row["phenomenon"].values),
        cell_type=str(row["cell_type"].values),
        measure=str(row["measure"].values),
        shown=json_number(row["shown"]),
        leading_mode=int(row["leading_mode"]),
        block=str(row["block"].values) or None,
        removed=_interval_record(row, "reduction"),
        control_removed={c: json_number(row["control_reduction_mean"].sel(control=c)) for c in controls},
        difference={c: _interval_record(row, "difference", c) for c in controls},
        verdict=str(row["verdict"].values),
    )


def phenomena_record(by_mode: xr.Dataset, checked: xr.Dataset | None = None) -> PhenomenaRecord:
    """The record of the phenomena by mode (:func:`~retinacodec.hypotheses.phenomena_by_mode`) and,
    with a virtual retina, their block test (:func:`~retinacodec.hypotheses.check_phenomena`)."""
    cnn = {
        str(p): {str(t): _in_cnn(by_mode, p, t) for t in by_mode["cell_type"].values}
        for p in by_mode["phenomenon"].values
    }
    record = PhenomenaRecord(
        layer=str(by_mode.attrs["layer"]),
        oms_seed=int(by_mode.attrs["setting_oms_seed"]),
        completeness_error_max_hz=json_number(abs(by_mode["completeness_error"]).max()),
        cnn=cnn,
    )
    if checked is None:
        return record
    controls = [str(c) for c in checked["control"].values]
    return dataclasses.replace(
        record,
        seeds=[int(s) for s in checked["seed"].values],
        min_reduction=json_number(checked.attrs["rule_min_reduction"]),
        level=json_number(checked.attrs["rule_level"]),
        trials=int(checked.attrs["rule_trials"]),
        verdicts=verdict_counts(checked),
        claims=[_claim(checked.sel(claim=c), controls) for c in checked["claim"].values],
    )
