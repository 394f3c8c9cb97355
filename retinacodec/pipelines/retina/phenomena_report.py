"""The report's section on the retina's phenomena explained by mode (Markdown only)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...hypotheses.match import PATHWAY_NAMES, type_name
from ...hypotheses.phenomena import PHENOMENON_NAMES
from .section_numbers import interval, leading, verdict_counts


def caption(checked: bool) -> str:
    """Caption of the phenomena's figure, with its block-test panel when ``checked``."""
    shares = "Phenomena by mode: each mode's share of the CNN's response contrast per cell type"
    if not checked:
        return shares + "."
    return (
        shares + " (top); on the virtual retina, the fraction of each phenomenon a block of the leading mode's "
        "pathway removes against the control blocks (bottom)."
    )


def _pathway(name: str) -> str:
    return PATHWAY_NAMES.get(name, name) or "none"


def _cnn_table(by_mode: xr.Dataset) -> list[str]:
    """One row per phenomenon and type: the CNN's contrast, its leading mode and that mode's pathway."""
    named = "pathway" in by_mode
    lines = [
        "| phenomenon | cell type | CNN contrast (Hz) | leading mode (share) |"
        + (" its pathway | share of the modes matched to it |" if named else "")
        + " unassigned |",
        "|---|---|---|---|" + ("---|---|" if named else "") + "---|",
    ]
    for phenomenon in by_mode["phenomenon"].values:
        for cell_type in by_mode["cell_type"].values:
            found = leading(by_mode, phenomenon, cell_type)
            shown = f"{found.mode} ({found.share:.2f})" if found.mode >= 0 else "none"
            name, kind = PHENOMENON_NAMES[str(phenomenon)], type_name(str(cell_type))
            text = f"| {name} | {kind} | {found.contrast:+.2f} | {shown} |"
            if named:
                text += f" {_pathway(found.pathway)} | {found.pathway_share:.2f} |"
            lines.append(text + f" {found.unassigned:.2f} |")
    return lines


def _interval(ds: xr.Dataset, name: str, control: str | None = None) -> str:
    mean, low, high = interval(ds, name, control)
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]" if np.isfinite(low) else f"{mean:+.2f}"


def _check_table(checked: xr.Dataset) -> list[str]:
    """One row per claim: the block's reduction, each control's, the differences and the verdict."""
    controls = [str(c) for c in checked["control"].values]
    lines = [
        "| phenomenon, cell type | retina | block (leading mode's pathway) | removed by the block |"
        + "".join(f" removed by blocking {_pathway(c)} | block minus it |" for c in controls)
        + " verdict |",
        "|---|---|---|---|" + "---|---|" * len(controls) + "---|",
    ]
    for claim in checked["claim"].values:
        row = checked.sel(claim=claim)
        unit = " Hz" if "Hz" in str(row["measure"].values) else ""
        text = (
            f"| {PHENOMENON_NAMES[str(row['phenomenon'].values)]}, {type_name(str(row['cell_type'].values))} | "
            f"{float(row['shown']):+.2f}{unit} | {_pathway(str(row['block'].values))} | {_interval(row, 'reduction')} |"
        )
        for control in controls:
            text += f" {float(row['control_reduction_mean'].sel(control=control)):+.2f} |"
            text += f" {_interval(row, 'difference', control)} |"
        lines.append(text + f" {row['verdict'].values} |")
    return lines


def phenomena_section(by_mode: xr.Dataset, checked: xr.Dataset | None = None) -> list[str]:
    """The report's section: which modes carry each phenomenon in the CNN and, with a virtual retina,
    the block test of each claim; without one, a sentence that there is no ground truth."""
    error = float(abs(by_mode["completeness_error"]).max())
    lines = [
        "## Phenomena by mode",
        "",
        f"Contributions of the {by_mode.attrs['layer']} layer's channels to every cell's rate in the two conditions "
        "of each phenomenon (the 300 ms after a full-field light or dark onset against the 400 ms of grey before it; "
        f"differential against global motion of a jittered grating, seed {by_mode.attrs['setting_oms_seed']}), "
        "split between the contribution modes as the IRFs are (each channel's contribution shared by the active "
        "modes that use it, in proportion to loading times weight). A mode's share is its part of the type's mean "
        "response contrast; the modes' parts and the part through channels no active mode uses add up to the "
        f"contrast up to the completeness error of the Integrated Gradients (at most {error:.2e} Hz here).",
        "",
        *_cnn_table(by_mode),
        "",
    ]
    if checked is None:
        return lines + [
            "There is no ground truth here: the shares are the CNN's, and no block can test which pathway "
            "carries a phenomenon.",
            "",
        ]
    confirmed = verdict_counts(checked)["confirmed"]
    return lines + [
        "Each phenomenon the virtual retina shows in a type (onset response of at least "
        f"{checked.attrs['rule_min_onset_hz']:g} Hz; OMS index at least {checked.attrs['rule_min_oms_index']:g}) "
        "is a claim: the leading mode's pathway (matched by activity, as the hypotheses' are) carries it. It is "
        "tested by blocking that pathway in the virtual retina and measuring the phenomenon (the onset response "
        f"from the Poisson spikes of {checked.attrs['rule_trials']} flash repeats; the OMS index from the rates), "
        "against blocking each pathway no mode names. Removed: the fraction of the phenomenon a block takes away, "
        f"mean and {100 * checked.attrs['rule_level']:g}% interval over the fresh seeds "
        f"{checked.attrs['rule_seeds']}. The rules were fixed before any outcome was seen: confirmed when the block "
        f"removes at least {checked.attrs['rule_min_reduction']:g} and more than every control block (the interval "
        "of the difference above 0).",
        "",
        *_check_table(checked),
        "",
        f"{confirmed} of {checked.sizes['claim']} claims confirmed.",
        "",
    ]
