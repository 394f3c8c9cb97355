"""The report's section on the hypotheses' designed test stimuli (Markdown only)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...hypotheses.match import type_name
from .section_numbers import aimed_at, median_ratio, predicted_z, stimulus_seconds

CAPTION = "Test stimuli: frames, and each type's change in standard errors, designed (solid) and jitter (hatched)."
"""Caption of the test stimuli's figure."""


def _z(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.1f}"


def _ratio(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


def _aimed(designs: xr.Dataset, name: str) -> str:
    return ", ".join(f"{type_name(t)} {'up' if s > 0 else 'down'}" for t, s in aimed_at(designs, name).items())


def designs_section(designs: xr.Dataset) -> list[str]:
    """The report's section: how the stimuli were designed, per hypothesis the aimed-at effect in
    standard errors predicted by the CNN and (when checked) observed in the virtual retina, under
    the designed stimulus and under natural jitter of the same length."""
    checked = "observed_ratio" in designs
    seconds = stimulus_seconds(designs, "test_stimulus")
    lines = [
        "## Test stimuli",
        "",
        f"For each hypothesis, a {seconds:g} s stimulus designed from the CNN alone (contrast within "
        f"+-{designs.attrs['design_max_contrast']:g}, RMS at most {designs.attrs['design_rms_contrast']}, "
        f"smoothed over {designs.attrs['design_sigma_px']:g} px and {designs.attrs['design_sigma_frames']:g} "
        f"frames, {designs.attrs['design_steps']} Adam steps) to make the block's predicted change of the "
        "aimed-at cell types as large as possible in Poisson standard errors of a "
        f"{designs.attrs['recording_s']:g} s recording per condition, and the other types' change small. "
        "z is the aimed-at types' change in standard errors, signed by the predicted direction; jitter is the "
        "first frames of the hypotheses' own natural jitter.",
        "",
    ]
    if not checked:
        lines += ["There is no ground truth here: the designed stimuli are predictions of the CNN only.", ""]
    header = "| hypothesis | aimed at | CNN z, designed | CNN z, jitter |"
    lines += [
        header + (" retina z, designed | retina z, jitter | ratio |" if checked else ""),
        "|---|---|---|---|" + ("---|---|---|" if checked else ""),
    ]
    predicted = predicted_z(designs)
    for name in designs["hypothesis"].values:
        row = f"| {name} | {_aimed(designs, name)} | " + " | ".join(
            _z(float(predicted[kind].sel(hypothesis=name))) if kind in predicted else "n/a"
            for kind in ("designed", "jitter")
        )
        if checked:
            row += (
                f" | {_z(float(designs['observed_designed_target_z'].sel(hypothesis=name)))}"
                f" | {_z(float(designs['observed_jitter_target_z'].sel(hypothesis=name)))}"
                f" | {float(designs['observed_ratio'].sel(hypothesis=name)):.2f}"
            )
        lines.append(row + " |")
    if checked:
        median = _ratio(median_ratio(designs))
        lines += ["", f"Median ratio (retina z designed / jitter) over the hypotheses: {median}."]
    return lines + [""]
