"""Hypotheses in plain words: one Markdown list item per hypothesis, with its test when there is one."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import RetinaCodecError
from .effects import by_type
from .generate import KIND
from .match import PATHWAY_NAMES, type_name


def spoken_list(items) -> str:
    """Items joined as in a sentence: "a", "a and b", "a, b and c"."""
    items = [str(item) for item in items]
    return " and ".join(items) if len(items) < 3 else f"{', '.join(items[:-1])} and {items[-1]}"


def _stimulus_words(attrs: dict) -> str:
    return str(attrs.get("stimulus", "the stimulus")).replace("_", " ")


def _intervention(row: xr.Dataset) -> str:
    pathway, drug, also = str(row["block"].values), str(row["drug"].values), str(row["drug_also_blocks"].values)
    gain = float(row.attrs.get("gain", 0.0))
    if gain != 0:
        target = (
            f"the {row['pathway_name'].values} pathway"
            if pathway
            else f"what channels {row['channels'].values} of layer {row['layer'].values} stand for"
        )
        return f"Scaling the output of {target} by {gain:g}"
    if not pathway:
        return (
            f"Silencing what channels {row['channels'].values} of layer {row['layer'].values} stand for "
            "(no reference circuit to name it)"
        )
    if not drug:
        agent = "no drug of the panel blocks it alone"
    elif also:
        agent = f"{drug}, which also block{'s' if ' or ' not in drug else ''} the {also} pathway"
    else:
        agent = drug
    return f"Blocking the {row['pathway_name'].values} pathway ({agent})"


def _effects(effect: xr.DataArray, category: xr.DataArray, baseline: xr.DataArray) -> list[str]:
    """Phrases like "raise the OMS cells' rates by ~0.9 Hz (+27%)", largest effect first."""
    phrases = []
    for position in np.argsort(-np.abs(effect.values), kind="stable"):
        if category.values[position] == 0:
            continue
        size, base = float(effect.values[position]), float(baseline.values[position])
        verb = "raise" if size > 0 else "lower"
        relative = f" ({100 * size / base:+.0f}%)" if base > 0 else ""
        cell_type = type_name(str(effect["type"].values[position]))
        phrases.append(f"{verb} the {cell_type} cells' rates by ~{abs(size):.1f} Hz{relative}")
    return phrases


MATCH_VARIABLES = {
    "block": "pathway_block_correlation",
    "partial": "pathway_partial_correlation",
    "correlation": "pathway_correlation",
}
"""The (hypothesis, pathway) variable that holds each matching rule's values."""


def _match(row: xr.Dataset, rule: str) -> str:
    """ ", activity match r = 0.80 (next: ON sustained bipolar, r = 0.72)": the runner-up by the same rule."""
    text = f", activity match r = {float(row['match_r'].values):.2f}"
    variable = MATCH_VARIABLES.get(rule, "pathway_correlation")
    if variable in row and row.sizes.get("pathway", 0) > 1:
        values = row[variable].dropna("pathway")
        others = values.where(values["pathway"] != row["block"].values, drop=True)
        if others.size:
            runner_up = others.sortby(others, ascending=False)
            name = str(runner_up["pathway"].values[0])
            text += f" (next: {PATHWAY_NAMES.get(name, name)}, r = {float(runner_up.values[0]):.2f})"
    return text


def _modes(listed: str, shown: int = 4) -> str:
    """ "modes 3, 7" or, for long lists, "modes 1, 2, 3, 4, ... (38 modes)"."""
    modes = listed.split(", ")
    return "modes " + (listed if len(modes) <= shown else f"{', '.join(modes[:shown])}, ... ({len(modes)} modes)")


def _observed(row: xr.Dataset) -> str:
    seen = [
        f"{type_name(str(t))} {float(v):+.1f} Hz"
        for t, v, c in zip(row["type"].values, row["observed_effect"].values, row["observed_category"].values)
        if c != 0
    ]
    values = [
        f"{label} {float(row[name].values):.2f}"
        for label, name in (
            ("type agreement", "type_agreement"),
            ("sign agreement", "sign_agreement"),
            ("Spearman ρ", "spearman_rho"),
            ("AUROC", "auroc"),
        )
        if np.isfinite(row[name].values)
    ]
    return (
        f" *Virtual retina:* {', '.join(seen) or 'no cell type changed'} → **{row['outcome'].values}** "
        f"({', '.join(values)})."
    )


def to_markdown(hypotheses: xr.Dataset) -> str:
    """Render hypotheses (and their tests, when present) as a numbered Markdown list of sentences.

    Parameters
    ----------
    hypotheses : xarray.Dataset
        From :func:`~retinacodec.hypotheses.generate.generate`, optionally tested with
        :func:`~retinacodec.hypotheses.score.test`.

    Returns
    -------
    str
        E.g. "1. Blocking the wide-field amacrine pathway (picrotoxin) should raise the OMS cells'
        rates by ~0.9 Hz (+27%) under natural jitter; confidence 0.80. ..." followed, for tested
        hypotheses, by the virtual retina's outcome and a final line with the recovery score
        and its shuffled control.
    """
    if not isinstance(hypotheses, xr.Dataset) or hypotheses.attrs.get("kind") != KIND:
        raise RetinaCodecError("expected the Dataset of retinacodec.hypotheses.generate()")
    attrs = hypotheses.attrs
    baseline = by_type(hypotheses["baseline_rate"])
    tested = "observed_change" in hypotheses
    lines = []
    for number, key in enumerate(hypotheses["hypothesis"].values, start=1):
        row = hypotheses.sel(hypothesis=key)
        effects = _effects(row["predicted_effect"], row["predicted_category"], baseline)
        if effects:
            prediction = "should " + spoken_list(effects)
        else:
            prediction = (
                f"should change no cell type's mean rate visibly (at {attrs['z_min']:g} standard errors "
                f"in {attrs['recording_s']:g} s)"
            )
        match = _match(row, str(attrs.get("match_rule", "correlation"))) if np.isfinite(row["match_r"].values) else ""
        line = (
            f"{number}. {_intervention(row)} {prediction} under {_stimulus_words(attrs)}; "
            f"confidence {float(row['confidence'].values):.2f}. (`{key}`, {row['reason'].values}: channels "
            f"{row['channels'].values} of layer {row['layer'].values}, {_modes(str(row['modes'].values))}{match}.)"
        )
        lines.append(line + (_observed(row) if tested else ""))
    if tested:
        lines.append("")
        lines.append(
            f"Recovery score {float(hypotheses['recovery_score']):.2f} (confidence-weighted type "
            f"agreement); with shuffled mode-to-channel assignments "
            f"{float(hypotheses['recovery_score_shuffled']):.2f} (mean of "
            f"{hypotheses.sizes.get('shuffle', 0)} shuffles)."
        )
    return "\n".join(lines) + "\n"
