"""Hypotheses figure: predicted against observed change per cell for each hypothesis, and the
recovery score against its shuffled control (or, for untested hypotheses, the predicted effects)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from ..hypotheses.match import type_name

COLUMNS = 4
"""Scatter panels per row."""


def _type_colours(cell_types) -> dict[str, str]:
    return {t: f"C{i}" for i, t in enumerate(dict.fromkeys(str(t) for t in cell_types))}


def _scatter(ax, row: xr.Dataset, colours: dict[str, str], limit: float) -> None:
    types = np.asarray(row["cell_type"].values, dtype=str)
    for cell_type, colour in colours.items():
        chosen = types == cell_type
        ax.plot(
            row["predicted_change"].values[chosen],
            row["observed_change"].values[chosen],
            "o",
            ms=4,
            color=colour,
            alpha=0.8,
            label=type_name(cell_type),
        )
    ax.plot([-limit, limit], [-limit, limit], color="0.6", lw=0.7, ls="--")
    ax.axhline(0.0, color="0.8", lw=0.6)
    ax.axvline(0.0, color="0.8", lw=0.6)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.tick_params(labelsize=7)
    scope = " inhibition" if "blocked_outputs" in row and str(row["blocked_outputs"].values) == "inhibitory" else ""
    label = str(row["pathway_name"].values) + scope + (f" ({row['drug'].values})" if str(row["drug"].values) else "")
    gain = float(row.attrs.get("gain", 0.0))
    action = "block" if gain == 0 else f"scale by {gain:g}:"
    ax.set_title(
        f"{row['hypothesis'].values}: {action} {label}\n{row['outcome'].values}, "
        f"agreement {float(row['type_agreement']):.2f}, c = {float(row['confidence']):.2f}",
        fontsize=7.5,
    )


def _outcomes(hypotheses: xr.Dataset, control: xr.Dataset | None = None) -> Figure:
    n = hypotheses.sizes["hypothesis"]
    rows = int(np.ceil(n / COLUMNS))
    fig = Figure(figsize=(3.5 * COLUMNS, 3.0 * rows + 3.2), layout="constrained")
    grid = fig.add_gridspec(rows + 1, COLUMNS, height_ratios=[1.0] * rows + [1.1])
    colours = _type_colours(hypotheses["cell_type"].values)
    changes = np.concatenate(
        [hypotheses["predicted_change"].values.ravel(), hypotheses["observed_change"].values.ravel()]
    )
    limit = max(float(np.abs(changes).max()) * 1.1, 0.5)
    for position, key in enumerate(hypotheses["hypothesis"].values):
        ax = fig.add_subplot(grid[position // COLUMNS, position % COLUMNS])
        _scatter(ax, hypotheses.sel(hypothesis=key), colours, limit)
        if position % COLUMNS == 0:
            ax.set_ylabel("observed change (Hz)\nvirtual retina", fontsize=8)
        if position // COLUMNS == rows - 1 or position + COLUMNS >= n:
            ax.set_xlabel("predicted change (Hz), CNN", fontsize=8)
        if position == 0:
            ax.legend(fontsize=7, frameon=False, loc="upper left")
    bars = fig.add_subplot(grid[rows, :])
    x = np.arange(n)
    shuffled = hypotheses["shuffled_agreement"].transpose("shuffle", "hypothesis").values
    bars.bar(x - 0.2, hypotheses["type_agreement"].values, width=0.4, color="k", label="modes' channels")
    if shuffled.size:
        bars.bar(x + 0.2, shuffled.mean(axis=0), width=0.4, color="0.7", label="shuffled channels (mean)")
        bars.plot(np.repeat(x + 0.2, shuffled.shape[0]), shuffled.T.ravel(), "o", color="0.35", ms=2)
    total = n + 0.8
    bars.bar(total - 0.2, float(hypotheses["recovery_score"]), width=0.4, color="tab:red", label="recovery score")
    bars.bar(
        total + 0.2,
        float(hypotheses["recovery_score_shuffled"]),
        width=0.4,
        color="tab:pink",
        label="recovery score, shuffled",
    )
    ticks, labels = [*x, total], [*hypotheses["hypothesis"].values, "all\n(weighted)"]
    title = (
        f"recovery {float(hypotheses['recovery_score']):.2f} vs shuffled "
        f"{float(hypotheses['recovery_score_shuffled']):.2f}"
    )
    if control is not None and "recovery_score" in control:
        bars.bar(
            total + 1.0,
            float(control["recovery_score"]),
            width=0.4,
            color="tab:blue",
            label="recovery score, activation modes",
        )
        ticks.append(total + 1.0)
        labels.append("activation\nmodes")
        title += f" and {float(control['recovery_score']):.2f} from activation modes"
    bars.set_xticks(ticks, labels, fontsize=7, rotation=30)
    bars.set_ylim(0, 1.05)
    bars.set_ylabel("type agreement")
    bars.legend(fontsize=7, frameon=False, ncols=5, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    fig.suptitle(
        f"hypotheses of {hypotheses.attrs.get('model', 'the model')} tested on the virtual retina "
        f"({str(hypotheses.attrs.get('stimulus', '')).replace('_', ' ')}): {title}",
        fontsize=10,
    )
    return fig


def _predictions(hypotheses: xr.Dataset) -> Figure:
    effect = hypotheses["predicted_effect"].transpose("hypothesis", "type")
    labels = [
        f"{key} (ch {hypotheses['channels'].sel(hypothesis=key).values}), c = "
        f"{float(hypotheses['confidence'].sel(hypothesis=key)):.2f}"
        for key in effect["hypothesis"].values
    ]
    # room for the row labels (about 0.06 in per character at 8 pt), the cells and the colour bar, and
    # at least the title's width, so that the cells never collapse however few cell types there are
    width = max(0.06 * max(len(label) for label in labels) + 1.6 + 1.1 * effect.sizes["type"], 6.0)
    fig = Figure(figsize=(width, 1.2 + 0.45 * effect.sizes["hypothesis"]), layout="constrained")
    ax = fig.add_subplot()
    limit = max(float(np.abs(effect.values).max()), 1e-6)
    image = ax.imshow(effect.values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(effect.sizes["type"]), [type_name(str(t)) for t in effect["type"].values])
    ax.set_yticks(range(effect.sizes["hypothesis"]), labels, fontsize=8)
    for (i, j), value in np.ndenumerate(effect.values):
        ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="predicted change (Hz)")
    ax.set_title(f"predicted effect of silencing each channel set ({hypotheses.attrs.get('model', '')})", fontsize=9)
    return fig


def plot_hypotheses(hypotheses: xr.Dataset, control: xr.Dataset | None = None) -> Figure:
    """Figure of hypotheses: their outcomes on the virtual retina, or their predictions.

    Parameters
    ----------
    hypotheses : xarray.Dataset
        From :func:`retinacodec.hypotheses.generate`, tested or not with
        :func:`retinacodec.hypotheses.test`.
    control : xarray.Dataset, optional
        Tested hypotheses generated the same way from activation modes: their recovery score is
        drawn beside the others.

    Returns
    -------
    matplotlib.figure.Figure
        Tested: one scatter per hypothesis of each cell's predicted (CNN, x) against observed
        (virtual retina, y) change of mean rate in Hz, coloured by cell type, with the outcome,
        type agreement and confidence in the title; below, each hypothesis's type agreement
        next to its shuffled controls (mean bar, dots per shuffle) and the recovery score next to
        its shuffled control. Untested: a heat map of the predicted mean change per cell type.

    Raises
    ------
    RetinaCodecError
        If ``hypotheses`` is not a hypotheses Dataset.
    """
    if not isinstance(hypotheses, xr.Dataset) or hypotheses.attrs.get("kind") != "hypotheses":
        raise RetinaCodecError("expected the Dataset of retinacodec.hypotheses.generate() (attr kind = 'hypotheses')")
    return _outcomes(hypotheses, control) if "observed_change" in hypotheses else _predictions(hypotheses)
