"""IRF figure: a cell's instantaneous receptive field at a few times, whole and by mode."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec

from ..errors import RetinaCodecError
from ..receptive_fields.summaries import rank1_summary


def irf_rows(irf: xr.DataArray | xr.Dataset, max_modes: int) -> list[tuple[str, xr.DataArray, float | None]]:
    """(label, (time, lag, y, x) IRFs, share or None) per figure row for one cell: the whole IRF,
    the modes carrying it (ranked by share when known, else the strongest), the residual."""
    if isinstance(irf, xr.DataArray):
        return [("IRF", irf, None)]
    rows: list[tuple[str, xr.DataArray, float | None]] = [("IRF", irf["irf"], None)]
    if "mode_irf" in irf:
        parts = irf["mode_irf"]
        if "cell_modes" in irf:  # modes_by_share: this cell's own list, by share
            listed = [m for m in irf["cell_modes"].values if m >= 0][:max_modes]
            rows += [(f"mode {m}", parts.sel(mode=m), float(irf["cell_share"].sel(mode=m))) for m in listed]
        else:
            energy = (parts**2).sum([dim for dim in parts.dims if dim != "mode"]).values
            rows += [
                (f"mode {parts['mode'].values[p]}", parts.isel(mode=p), None)
                for p in np.argsort(-energy, kind="stable")[:max_modes]
                if energy[p] > 0
            ]
        rows.append(("residual", irf["residual"], None))
    return rows


def plot_irf(irf: xr.DataArray | xr.Dataset, cell: int | None = None, n_times: int = 4, max_modes: int = 4) -> Figure:
    """Show one cell's IRF at a few time points, and its parts through the strongest modes.

    Parameters
    ----------
    irf : xarray.DataArray or xarray.Dataset
        The result of :func:`retinacodec.irf`: ``irf`` (time, cell, lag, y, x), or a Dataset with
        ``irf``, ``mode_irf`` and ``residual``.
    cell : int, optional
        Cell (a value of the ``cell`` coord); the first by default.
    n_times : int
        Number of time points shown, evenly spaced from the first to the last.
    max_modes : int
        Most modes shown, those with the largest squared norm over the shown cell and all times.

    Returns
    -------
    matplotlib.figure.Figure
        One row per IRF kind (whole, each mode, residual), one column per time point: the rank-1
        space-time approximation (:func:`retinacodec.receptive_fields.summaries.rank1_summary`) at its peak
        lag, :math:`\\sigma_1 u_1(\\ell^*) v_1(y, x)`, on one symmetric colour scale for the whole
        figure (red = more firing for brighter light, Hz per unit contrast); mode rows are labeled
        with their share of the IRF's squared norm (for
        :func:`~retinacodec.receptive_fields.summaries.modes_by_share` output: the cell's own modes, ranked by
        projection share), modes with no part at all are left out. Last column: the
        approximation's time course at its peak pixel, :math:`\\sigma_1 v_1(p^*) u_1(\\ell)`, one line
        per shown time, on one scale for the whole column.

    Raises
    ------
    RetinaCodecError
        For input that is not an IRF, an unknown cell, or n_times / max_modes below 1.
    """
    whole = irf if isinstance(irf, xr.DataArray) else irf.get("irf")
    if whole is None or set(whole.dims) != {"time", "cell", "lag", "y", "x"}:
        raise RetinaCodecError("expected the result of irf(): an IRF (time, cell, lag, y, x) or a Dataset with 'irf'")
    for name, value in (("n_times", n_times), ("max_modes", max_modes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise RetinaCodecError(f"{name} is {value!r}; expected a positive integer")
    cells = whole["cell"].values
    cell = cells[0] if cell is None else cell
    if cell not in cells:
        raise RetinaCodecError(f"cell {cell!r} is not in the IRF; expected one of {cells.tolist()}")
    shown = np.unique(np.linspace(0, whole.sizes["time"] - 1, min(n_times, whole.sizes["time"])).round().astype(int))
    rows = [(label, data.isel(time=shown), share) for label, data, share in irf_rows(irf.sel(cell=cell), max_modes)]

    summaries = [rank1_summary(data) for _, data, _ in rows]
    frames, courses, peak_lags = [], [], []
    for summary in summaries:
        sigma = summary["singular_value"].values
        temporal, spatial = summary["temporal"].values, summary["spatial"].values
        peak_lag = np.abs(temporal).argmax(axis=1)
        frames.append(sigma[:, None, None] * temporal[np.arange(len(shown)), peak_lag][:, None, None] * spatial)
        courses.append(sigma[:, None] * spatial.reshape(len(shown), -1).max(axis=1)[:, None] * temporal)
        peak_lags.append(peak_lag)
    limit = max(float(np.abs(np.stack(frames)).max()), 1e-30)
    span = max(float(np.abs(np.stack(courses)).max()), 1e-30) * 1.05
    whole_norm = float(np.square(rows[0][1]).sum())

    fig = Figure(figsize=(2.0 * (len(shown) + 1.6), 1.9 * len(rows) + 0.6), layout="constrained")
    grid = GridSpec(len(rows), len(shown) + 1, figure=fig, width_ratios=[1.0] * len(shown) + [1.6])
    lags_ms = whole["lag"].values * 1e3
    for r, ((label, data, given), summary) in enumerate(zip(rows, summaries)):
        share = (
            given
            if given is not None
            else (float(np.square(data).sum()) / whole_norm if whole_norm > 0 else float("nan"))
        )
        for c, index in enumerate(shown):
            ax = fig.add_subplot(grid[r, c])
            image = ax.imshow(frames[r][c], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {whole['time'].values[index]:.2f} s", fontsize=9)
            fraction = summary["variance_fraction"].values[c]
            ax.set_xlabel(
                f"lag {lags_ms[peak_lags[r][c]]:.0f} ms, rank-1 {100 * fraction:.0f}%"
                if np.isfinite(fraction)
                else "zero",
                fontsize=7,
            )
            if c == 0:
                ax.set_ylabel(
                    f"{label}\n({100 * share:.0f}% {'share' if given is not None else 'of |IRF|²'})" if r else label,
                    fontsize=9,
                )
        trace = fig.add_subplot(grid[r, -1])
        for c in range(len(shown)):
            trace.plot(lags_ms, courses[r][c], color=f"C{c}", lw=1.0, label=f"{whole['time'].values[shown[c]]:.2f} s")
        trace.axhline(0.0, color="0.6", lw=0.5)
        trace.set_ylim(-span, span)
        trace.set_ylabel("Hz / contrast", fontsize=8)
        trace.tick_params(labelsize=7)
        if r == len(rows) - 1:
            trace.set_xlabel("lag (ms)")
        if r == 0:
            trace.set_title("time course at peak pixel", fontsize=9)
            trace.legend(fontsize=6, frameon=False)
    fig.colorbar(image, ax=[ax for ax in fig.axes if ax.images], shrink=0.6, label="Hz / contrast")
    kind = whole.attrs.get("method", "gradient")
    title = f"cell {cell}"
    if "cell_type" in whole.coords:
        title += f" ({whole['cell_type'].sel(cell=cell).item()})"
    title += f", {kind} IRF of model {whole.attrs.get('model', '?')}"
    if isinstance(irf, xr.Dataset) and "shown_share" in irf:
        title += f"; modes shown carry {100 * float(irf['shown_share'].sel(cell=cell)):.0f}% of the IRF"
    elif isinstance(irf, xr.Dataset) and "explained" in irf:
        title += f"; modes explain {100 * float(irf['explained'].sel(cell=cell).mean()):.0f}%"
    fig.suptitle(title + "\n(image: rank-1 frame at peak lag, with lag and variance fraction)", fontsize=10)
    return fig
