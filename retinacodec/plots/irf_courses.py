"""Temporal IRF figure: the IRF time courses of a full-field model, by mode and by time, one column per cell."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from .irf import irf_rows


def plot_irf_courses(irf: xr.DataArray | xr.Dataset, max_modes: int = 4) -> Figure:
    """Show the IRF time courses of every cell of a full-field (1 x 1 px) IRF, whole and by mode.

    Parameters
    ----------
    irf : xarray.DataArray or xarray.Dataset
        The result of :func:`retinacodec.irf` on frames of one pixel: ``irf`` (time, cell, lag,
        y, x), or a Dataset with ``irf``, ``mode_irf`` and ``residual``.
    max_modes : int
        Most modes shown per cell (its own, ranked by share when known).

    Returns
    -------
    matplotlib.figure.Figure
        One column per cell (in the IRF's order, titled with its type), one row per part: the
        whole IRF, each of the cell's modes (labelled with its share), the residual. Each panel
        draws the time course (Hz per unit contrast against lag, ms) at every analysed time, one
        colour per time, on one scale for the whole figure.

    Raises
    ------
    RetinaCodecError
        For input that is not an IRF, frames larger than one pixel, or ``max_modes`` below 1.
    """
    whole = irf if isinstance(irf, xr.DataArray) else irf.get("irf")
    if whole is None or set(whole.dims) != {"time", "cell", "lag", "y", "x"}:
        raise RetinaCodecError("expected the result of irf(): an IRF (time, cell, lag, y, x) or a Dataset with 'irf'")
    if whole.sizes["y"] * whole.sizes["x"] != 1:
        raise RetinaCodecError(
            f"the IRF has {whole.sizes['y']} x {whole.sizes['x']} px frames; expected a full-field (1 x 1) IRF "
            "(plot_irf shows maps)"
        )
    if isinstance(max_modes, bool) or not isinstance(max_modes, (int, np.integer)) or max_modes < 1:
        raise RetinaCodecError(f"max_modes is {max_modes!r}; expected a positive integer")
    cells = whole["cell"].values
    columns = [irf_rows(irf.sel(cell=cell), max_modes) for cell in cells]
    n_rows = max(len(rows) for rows in columns)
    span = max(float(np.abs(whole.values).max()), 1e-30) * 1.05
    if isinstance(irf, xr.Dataset):
        span = max(span, *(float(np.abs(data.values).max()) * 1.05 for rows in columns for _, data, _ in rows))
    lags_ms = whole["lag"].values * 1e3
    times = whole["time"].values
    fig = Figure(figsize=(3.0 * len(cells) + 0.8, 1.6 * n_rows + 1.0), layout="constrained")
    grid = fig.add_gridspec(n_rows, len(cells))
    for c, (cell, rows) in enumerate(zip(cells, columns)):
        for r, (label, data, share) in enumerate(rows):
            ax = fig.add_subplot(grid[r, c])
            course = data.transpose("time", "lag", "y", "x").values[:, :, 0, 0]
            for t in range(course.shape[0]):
                ax.plot(lags_ms, course[t], color=f"C{t}", lw=1.0, label=f"t = {times[t]:.2f} s")
            ax.axhline(0.0, color="0.6", lw=0.5)
            ax.set_ylim(-span, span)
            ax.tick_params(labelsize=7)
            text = label if share is None else f"{label} ({100 * share:.0f}% share)"
            ax.set_title(text, fontsize=8, loc="left")
            if r == 0:
                kind = f" ({whole['cell_type'].sel(cell=cell).item()})" if "cell_type" in whole.coords else ""
                ax.set_title(f"cell {cell}{kind}", fontsize=10)
            if c == 0:
                ax.set_ylabel("Hz / contrast", fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("lag (ms)", fontsize=8)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(times), fontsize=8, frameon=False)
    fig.suptitle(
        f"{whole.attrs.get('method', 'gradient')} IRF time courses of model {whole.attrs.get('model', '?')} "
        "(full-field stimulus), whole and by mode",
        fontsize=10,
    )
    return fig
