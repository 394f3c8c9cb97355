"""Figure of a model's fit: predicted against true rates for example cells, and r per cell type."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from ..metrics import pearson_r


def _shown_stretch(
    cells: list[int], data: xr.DataArray | xr.Dataset, duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """The time axis (s) and the mask of its first ``duration_s``, once ``cells`` are checked to be
    positions along ``data``'s ``cell`` dim."""
    n_cells = data.sizes["cell"]
    if not cells or any(not 0 <= c < n_cells for c in cells):
        raise RetinaCodecError(
            f"cells {cells} are not positions of the {n_cells} cells; expected a non-empty "
            f"list of positions in 0..{n_cells - 1}"
        )
    times = data["time"].values
    return times, times <= times[0] + duration_s


def plot_model_fit(
    pred: xr.DataArray,
    true: xr.DataArray,
    cells: list[int] | None = None,
    duration_s: float = 5.0,
    title: str | None = None,
    baseline: xr.DataArray | None = None,
) -> Figure:
    """Predicted and true firing rates of a few cells, and the Pearson r of every cell by type.

    Parameters
    ----------
    pred, true : xarray.DataArray
        Rates in Hz, dims (time, cell), aligned on their common time points (see
        :func:`retinacodec.metrics.pearson_r`); a ``cell_type`` coord on ``pred`` groups the cells.
    cells : list of int, optional
        Positions (along ``cell``) of the cells whose traces are drawn; default the best-fit cell
        of each type.
    duration_s : float
        Length of the traces shown, from the first common time point (s).
    title : str, optional
        Figure title.
    baseline : xarray.DataArray, optional
        A second model's rates (e.g. the LN baseline), dims (time, cell) like ``pred``: drawn
        grey and dashed, its r per cell as open circles.

    Returns
    -------
    matplotlib.figure.Figure
        One row of traces per chosen cell (true in black, predicted in colour, r in the label)
        and a right-hand panel with each cell's r as a dot over its type's mean bar.
    """
    r = pearson_r(pred, true)
    r_baseline = pearson_r(baseline, true) if baseline is not None else None
    pred, true = xr.align(pred.transpose("time", "cell"), true.transpose("time", "cell"), join="inner")
    types = (
        np.asarray(pred["cell_type"].values, dtype=str)
        if "cell_type" in pred.coords
        else np.full(pred.sizes["cell"], "cell")
    )
    order = list(dict.fromkeys(types))
    if cells is None:
        scores = np.nan_to_num(r.values, nan=-np.inf)
        cells = [int(np.flatnonzero(types == t)[np.argmax(scores[types == t])]) for t in order]
    times, shown = _shown_stretch(cells, pred, duration_s)

    fig = Figure(figsize=(11, 1.6 * len(cells) + 1.0), layout="constrained")
    grid = fig.add_gridspec(len(cells), 2, width_ratios=[3.2, 1])
    colours = {t: f"C{i}" for i, t in enumerate(order)}
    for row, cell in enumerate(cells):
        ax = fig.add_subplot(grid[row, 0])
        ax.plot(times[shown], true.values[shown, cell], color="k", lw=1.0, label="true")
        ax.plot(times[shown], pred.values[shown, cell], color=colours[types[cell]], lw=1.0, label="predicted")
        if baseline is not None and r_baseline is not None:
            ax.plot(
                times[shown],
                baseline.sel(time=pred["time"]).values[shown, cell],
                color="0.5",
                lw=0.8,
                ls="--",
                label=f"LN (r = {r_baseline.values[cell]:.2f})",
            )
        ax.set_ylabel("rate (Hz)")
        ax.set_title(f"cell {cell} ({types[cell]}), r = {r.values[cell]:.2f}", fontsize=9, loc="left")
        if row == 0:
            ax.legend(loc="upper right", fontsize=8, frameon=False)
        if row == len(cells) - 1:
            ax.set_xlabel("time (s)")
    summary = fig.add_subplot(grid[:, 1])
    for i, cell_type in enumerate(order):
        values = r.values[types == cell_type]
        summary.bar(i, np.nanmean(values), color=colours[cell_type], alpha=0.4)
        summary.plot(
            np.full(values.size, i) + np.linspace(-0.2, 0.2, values.size), values, "o", color=colours[cell_type], ms=4
        )
        if r_baseline is not None:
            summary.plot(
                np.full(values.size, i) + np.linspace(-0.2, 0.2, values.size),
                r_baseline.values[types == cell_type],
                "o",
                mfc="none",
                color="0.4",
                ms=4,
            )
    summary.set_xticks(range(len(order)), order, rotation=30)
    summary.set_ylabel("Pearson r")
    summary.set_ylim(min(0.0, float(np.nanmin(r.values)) - 0.05), 1.0)
    summary.axhline(float(r.mean()), color="k", ls="--", lw=0.8)
    summary.set_title(
        f"mean r = {float(r.mean()):.3f}"
        + (f" (LN, open: {float(r_baseline.mean()):.3f})" if r_baseline is not None else ""),
        fontsize=9,
    )
    if title:
        fig.suptitle(title)
    return fig


def plot_recording_fit(evaluation: xr.Dataset, cells: list[int] | None = None, duration_s: float = 4.0) -> Figure:
    """Predicted against recorded rates on a recording's held-out part, and r per cell, CNN vs LN.

    Parameters
    ----------
    evaluation : xarray.Dataset
        :func:`retinacodec.models.training.evaluate_recording`'s result: ``predicted`` (model,
        time, cell), ``recorded`` (time, cell), ``heldout_r`` (model, cell) and, with repeats,
        ``repeat_r``; models ``"cnn"`` and ``"ln"`` are compared when both are present.
    cells : list of int, optional
        Positions along ``cell`` of the traces drawn; default the three cells best fit by the first model.
    duration_s : float
        Length of the traces (s), from the start of the held-out part.

    Returns
    -------
    matplotlib.figure.Figure
        Traces (recorded in black, each model in colour) and a scatter of each cell's r under the
        two models (the diagonal is "as good as each other"; points above it favour the CNN).
    """
    names = [str(m) for m in evaluation["model"].values]
    first = evaluation["heldout_r"].sel(model=names[0]).values
    if cells is None:
        cells = [int(c) for c in np.argsort(-np.nan_to_num(first, nan=-2.0))[:3]]
    times, shown = _shown_stretch(cells, evaluation, duration_s)
    fig = Figure(figsize=(12, 1.8 * len(cells) + 1.2), layout="constrained")
    grid = fig.add_gridspec(len(cells), 2, width_ratios=[3.0, 1.2])
    for row, cell in enumerate(cells):
        ax = fig.add_subplot(grid[row, 0])
        ax.plot(times[shown], evaluation["recorded"].values[shown, cell], color="k", lw=1.0, label="recorded")
        for i, name in enumerate(names):
            r = float(evaluation["heldout_r"].sel(model=name).values[cell])
            ax.plot(
                times[shown],
                evaluation["predicted"].sel(model=name).values[shown, cell],
                color=f"C{i}",
                lw=1.0,
                label=f"{name} (r = {r:.2f})",
            )
        ax.set_ylabel("rate (Hz)")
        ax.set_title(f"cell {evaluation['cell'].values[cell]}", fontsize=9, loc="left")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncol=len(names) + 1)
        if row == len(cells) - 1:
            ax.set_xlabel("time (s)")
    ax = fig.add_subplot(grid[:, 1])
    measures = [m for m in ("heldout_r", "repeat_r") if m in evaluation]
    if {"cnn", "ln"} <= set(names):
        for i, measure in enumerate(measures):
            x, y = (evaluation[measure].sel(model=m).values for m in ("ln", "cnn"))
            ax.plot(
                x,
                y,
                "os"[i],
                color=f"C{i + 2}",
                ms=5,
                label=f"{measure}: CNN {np.nanmean(y):.2f}, LN {np.nanmean(x):.2f}",
            )
        low = min(0.0, float(np.nanmin(evaluation[measures].to_array().values)))
        ax.plot([low, 1], [low, 1], color="0.5", lw=0.8)
        ax.set_xlabel("LN r per cell")
        ax.set_ylabel("CNN r per cell")
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12))  # below the data
        ax.set_aspect("equal")
    ax.set_title("held-out fit, each dot a cell", fontsize=9)
    fig.suptitle("model of the recording: held-out part")
    return fig
