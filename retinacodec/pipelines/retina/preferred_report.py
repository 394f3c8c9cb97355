"""The report's section on the stimuli the modes prefer (Markdown only)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...hypotheses.match import type_name
from .section_numbers import stimulus_seconds

CAPTION = "Cell {cell}: its most exciting input and the stimuli its modes prefer (peak frame, time course at the peak)."
"""Caption of each cell's figure."""
NUMBERS = ("preferred_loading", "preferred_share", "mei_loading", "mei_share")
"""Variables of a mode's row in the table, before the rate and r."""


def _r(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.2f}"


def _method(preferred: xr.Dataset) -> str:
    seconds = stimulus_seconds(preferred, "most_exciting_input")
    return (
        f"For each IRF cell and its leading IRF modes ({preferred.attrs['layer']} layer), a {seconds:g} s stimulus "
        "(one window of the model's history) that maximises the mode's loading: the SAE's code of the split-sign "
        "contributions of the layer to the cell's rate, ascended by Adam through its pre-activation (contrast "
        f"within +-{preferred.attrs['design_max_contrast']:g}, RMS at most {preferred.attrs['design_rms_contrast']}, "
        f"smoothed over {preferred.attrs['design_sigma_px']:g} px and {preferred.attrs['design_sigma_frames']:g} "
        f"frames, {preferred.attrs['design_steps']} steps, settings fixed in code). Beside them, the cell's most "
        "exciting input under the same bounds. r is the correlation, over the lags and the "
        f"{2 * int(preferred.attrs['irf_radius']) + 1} px square around the IRF's peak, between the stimulus "
        "(reversed in time) and the mode's IRF averaged over the IRF's times (for the most exciting input, the "
        "cell's whole IRF). Share is the mode's share of the SAE's reconstruction under the stimulus."
    )


def preferred_section(found: dict, recording: bool) -> list[str]:
    """The report's section (its figures follow it, :data:`CAPTION`): how the stimuli were made, a
    table per cell and mode (loading, share, rate, r with the IRF); on a recording, that there is
    no ground truth."""
    keys = [key for key in found if key.startswith("preferred_cell")]
    if not keys:
        return []
    lines = ["## Stimuli the modes prefer", "", _method(found[keys[0]]), ""]
    if recording:
        lines += ["There is no ground truth here: the stimuli are the recording's CNN's predictions only.", ""]
    lines += [
        "| cell | stimulus | loading | share | MEI's loading | MEI's share | rate (Hz) | r with IRF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        ds = found[key]
        cell = f"{int(ds['cell'])} ({type_name(str(ds['cell_type'].values))})"
        mei = f"| | | | {float(ds['mei_rate']):.1f} | {_r(float(ds['mei_irf_correlation']))} |"
        lines.append(f"| {cell} | most exciting input | " + mei)
        for m in ds["mode"].values:
            row = ds.sel(mode=m)
            values = [f"{float(row[name]):.2f}" for name in NUMBERS]
            values += [f"{float(row['preferred_rate']):.1f}", _r(float(row["irf_correlation"]))]
            lines.append(f"| {cell} | mode {m} | " + " | ".join(values) + " |")
    return lines + [""]
