"""Designed test stimuli: a few frames of each hypothesis's stimulus beside its effect per cell type,
predicted by the CNN and, when checked, observed in the virtual retina, under it and under jitter."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from ..hypotheses.match import type_name

FRAMES_SHOWN = 4
"""Frames of each stimulus shown, evenly spaced."""
BARS = (
    ("designed_z", "CNN, designed", "C0", None),
    ("jitter_z", "CNN, jitter", "C0", "//"),
    ("observed_designed_z", "retina, designed", "C3", None),
    ("observed_jitter_z", "retina, jitter", "C3", "//"),
)
"""(variable, label, colour, hatch) of the bars per type, drawn when present."""


def _bars(ax, row: xr.Dataset) -> None:
    present = [bar for bar in BARS if bar[0] in row]
    types = [str(t) for t in row["type"].values]
    width = 0.8 / len(present)
    for k, (name, label, colour, hatch) in enumerate(present):
        ax.bar(
            np.arange(len(types)) + (k - (len(present) - 1) / 2) * width,
            row[name].values,
            width,
            color=colour,
            alpha=1.0 if hatch is None else 0.45,
            hatch=hatch,
            label=label,
        )
    aimed = row["design_target"].values
    ax.set_xticks(np.arange(len(types)), [type_name(t) + (" *" if a else "") for t, a in zip(types, aimed)], fontsize=7)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_ylabel("change (SE)", fontsize=7)
    ax.tick_params(labelsize=7)


def designed_stimuli_figure(designs: xr.Dataset, hypotheses: xr.Dataset | None = None) -> Figure:
    """One row per hypothesis: frames of its designed stimulus and its effect per cell type.

    Parameters
    ----------
    designs : xarray.Dataset
        From :func:`~retinacodec.hypotheses.design.design_tests`, optionally checked
        (:func:`~retinacodec.hypotheses.design_check.check_designs`).
    hypotheses : xarray.Dataset, optional
        The hypotheses, for each row's pathway name in its title.

    Returns
    -------
    matplotlib.figure.Figure
        Left: frames at evenly spaced times on a grey scale of +-``design_max_contrast`` around
        the mean. Right: each type's change of mean rate under the block in Poisson standard
        errors (signed), predicted by the CNN (blue) and observed in the retina (red), under the
        designed stimulus (solid) and under jitter (hatched); aimed-at types are starred.
    """
    if "test_stimulus" not in designs:
        raise RetinaCodecError("expected the Dataset of retinacodec.hypotheses.design.design_tests()")
    names = [str(h) for h in designs["hypothesis"].values]
    n_time = designs.sizes["time"]
    shown = np.unique(np.linspace(0, n_time - 1, FRAMES_SHOWN).round().astype(int))
    bound = float(designs.attrs.get("design_max_contrast", 1.0))
    fig = Figure(figsize=(2.0 * (len(shown) + 2.5), 2.1 * len(names) + 0.4), layout="constrained")
    grid = fig.add_gridspec(len(names), len(shown) + 1, width_ratios=[1.0] * len(shown) + [2.5])
    for row_index, name in enumerate(names):
        row = designs.sel(hypothesis=name)
        movie = row["test_stimulus"].values
        centre = float(np.median(movie))
        for column, frame in enumerate(shown):
            ax = fig.add_subplot(grid[row_index, column])
            ax.imshow(movie[frame], cmap="gray", vmin=centre - bound, vmax=centre + bound)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{float(row['time'].values[frame]):.2f} s", fontsize=7)
            if column == 0:
                pathway = ""
                if hypotheses is not None and "pathway_name" in hypotheses:
                    pathway = str(hypotheses["pathway_name"].sel(hypothesis=name).values)
                ax.set_ylabel(f"{name}\n{pathway}", fontsize=7)
        ax = fig.add_subplot(grid[row_index, len(shown)])
        _bars(ax, row)
        if row_index == 0:
            ax.legend(fontsize=6, ncol=2)
    return fig
