"""The report's cell-type section for a recording: each unit's label, where it came from, and its evidence."""

from __future__ import annotations

import numpy as np
import xarray as xr


def _number(value: float, spec: str) -> str:
    return format(float(value), spec) if np.isfinite(value) else "–"


def cell_types_section(types: xr.Dataset) -> list[str]:
    """Markdown lines: one table row per unit (label, source, spikes, STA peak z, biphasic and
    ON-OFF indices, the rule that decided), then the count per label.

    Parameters
    ----------
    types : xarray.Dataset
        :func:`retinacodec.models.cell_types.type_units` of the recording.
    """
    counts = dict(zip(*np.unique(types["cell_type"].values.astype(str), return_counts=True)))
    lines = [
        "## Cell types",
        "",
        "Each unit's type, which the tables and figures below group by: a user label, else the units table's "
        "column, else the functional type from the unit's own responses to the whole recording (spike-triggered "
        "average polarity and biphasic index, responses to both polarities; rules and thresholds in "
        "`retinacodec.models.cell_types.classify`). "
        + ", ".join(f"{label}: {int(n)}" for label, n in counts.items())
        + ".",
        "",
    ]
    if "reason" not in types:  # too short a recording to type
        rows = zip(types["cell"].values, types["cell_type"].values, types["source"].values)
        return lines + [f"- unit {int(c)}: {t} ({s})" for c, t, s in rows] + [""]
    lines += [
        "| unit | type | source | functional type | spikes | STA peak z | biphasic index | ON-OFF index | why |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for index in range(types.sizes["cell"]):
        unit = types.isel(cell=index)
        lines.append(
            f"| {int(unit['cell'])} | {unit['cell_type'].item()} | {unit['source'].item()} | "
            f"{unit['functional_type'].item()} | {int(unit['n_spikes'])} | {_number(float(unit['peak_z']), '.1f')} | "
            f"{_number(float(unit['biphasic_index']), '.2f')} | {_number(float(unit['on_off_index']), '.2f')} | "
            f"{unit['reason'].item()} |"
        )
    return lines + [""]
