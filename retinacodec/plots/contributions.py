"""Figure of a contributions result: contribution against activation per channel, and completeness."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import RetinaCodecError


def _whole(values: xr.DataArray) -> xr.DataArray:
    """Sum the sign parts of a split result."""
    return values.sum("sign") if "sign" in values.dims else values


def _check(ds: xr.Dataset) -> None:
    missing = [
        name
        for name in ("contribution", "activation", "target_value", "baseline_value", "completeness_error")
        if name not in ds
    ]
    if missing or "sample" not in ds.dims:
        raise RetinaCodecError(
            f"dataset lacks {', '.join(missing) or 'a sample dim'}; expected the result of retinacodec.contributions"
        )


def _title(ds: xr.Dataset) -> str:
    return (
        f"{ds.attrs.get('model', 'model')} layer {ds.attrs.get('layer', '?')} -> "
        f"{ds.attrs.get('target', '?')} ({ds.attrs.get('path', '?')} path, {ds.attrs.get('method', '?')}, "
        f"{ds.attrs.get('n_steps', '?')} steps)"
    )


def _heatmap(ax, values: xr.DataArray, times: np.ndarray, label: str, diverging: bool) -> None:
    data = values.transpose("channel", ...).values
    limit = float(np.abs(data).max()) or 1.0
    extent = (times[0], times[-1], data.shape[0] - 0.5, -0.5)
    options = dict(cmap="RdBu_r", vmin=-limit, vmax=limit) if diverging else dict(cmap="viridis")
    image = ax.imshow(data, aspect="auto", interpolation="nearest", extent=extent, **options)
    ax.set_ylabel("channel")
    ax.figure.colorbar(image, ax=ax, label=label, pad=0.01)


def _plot_time(ds: xr.Dataset, selection: dict) -> Figure:
    """Retina: one target (cell) over time."""
    one = ds.sel(selection)
    times = one["time"].values
    fig = Figure(figsize=(10, 9), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True, height_ratios=[3, 3, 2, 1.2])
    _heatmap(axes[0], _whole(one.contribution), times, "contribution", diverging=True)
    axes[0].set_title("contribution per channel (summed over space)")
    _heatmap(axes[1], _whole(one.activation), times, "activation", diverging=False)
    axes[1].set_title("activation per channel (summed over space)")
    rebuilt = one.baseline_value + _whole(one.contribution).sum("channel")
    axes[2].plot(times, one.target_value, color="black", lw=2, label="target f(x)")
    axes[2].plot(times, rebuilt, color="tab:orange", lw=1, ls="--", label="baseline + sum of contributions")
    axes[2].plot(times, one.baseline_value, color="grey", lw=1, label="baseline value")
    axes[2].set_ylabel("target")
    axes[2].legend(loc="upper right", fontsize=8)
    axes[3].plot(times, one.completeness_error, color="tab:red", lw=1)
    axes[3].axhline(0, color="grey", lw=0.5)
    axes[3].set_ylabel("completeness\nerror")
    axes[3].set_xlabel("time (s)")
    label = ", ".join(f"{k} {v}" for k, v in selection.items())
    if "cell_type" in one.coords:
        label += f" ({one.cell_type.values[0]})"
    fig.suptitle(f"{_title(ds)}: {label}", fontsize=10)
    return fig


def _plot_images(ds: xr.Dataset, max_samples: int) -> Figure:
    """Classifier: contribution against activation per channel, one panel per sample."""
    n = min(max_samples, ds.sizes["sample"])
    fig = Figure(figsize=(3.2 * n, 6.4), layout="constrained")
    grid = fig.add_gridspec(2, n)
    labels = [
        ", ".join(f"{k} {v}" for k, v in zip(ds.indexes["sample"].names, np.atleast_1d(key)))
        for key in ds.indexes["sample"][:n]
    ]
    for i in range(n):
        ax = fig.add_subplot(grid[0, i])
        sample = ds.isel(sample=i)
        activation = _whole(sample.activation)
        if "sign" in sample.contribution.dims:
            for sign, color in (("pos", "tab:red"), ("neg", "tab:blue")):
                ax.scatter(activation, sample.contribution.sel(sign=sign), s=6, color=color, label=sign)
            ax.legend(fontsize=8)
        else:
            ax.scatter(activation, sample.contribution, s=6, color="black")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("activation")
        ax.set_ylabel("contribution" if i == 0 else "")
        ax.set_title(labels[i], fontsize=9)
    ax = fig.add_subplot(grid[1, :])
    relative = np.abs(ds.completeness_error) / np.maximum(np.abs(ds.target_value - ds.baseline_value), 1e-300)
    ax.semilogy(np.arange(ds.sizes["sample"]), np.maximum(relative, 1e-16), "o", color="tab:red", ms=4)
    for level, text in ((1e-2, "1%"), (1e-3, "0.1%")):
        ax.axhline(level, color="grey", lw=0.5, ls="--")
        ax.annotate(text, (1.0, level), xycoords=("axes fraction", "data"), fontsize=8, color="grey")
    ax.set_ylim(top=max(1.0, float(relative.max()) * 2))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("sample")
    ax.set_ylabel("|completeness error| / |f(x) - f(baseline)|\n(floored at 1e-16)")
    fig.suptitle(_title(ds), fontsize=10)
    return fig


def plot_contributions(ds: xr.Dataset, select: dict | None = None, max_samples: int = 4) -> Figure:
    """Plot a contributions result.

    For a stimulus (``sample`` = (time, cell) or (time, target)): contribution and activation of
    every channel over time for one cell, the target against baseline + sum of contributions, and
    the completeness error over time. For images: contribution against activation per channel for
    the first samples, and the relative completeness error of every sample (log scale).

    Parameters
    ----------
    ds : xarray.Dataset
        Result of :func:`retinacodec.contributions`.
    select : dict, optional
        For a stimulus, the cell (or target) to show, e.g. ``{"cell": 3}``; default the first.
    max_samples : int
        For images, how many samples get a scatter panel.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    RetinaCodecError
        If ``ds`` is not a contributions result or ``select`` names no sample level.
    """
    _check(ds)
    levels = list(ds.indexes["sample"].names) if "sample" in ds.indexes else []
    if "time" not in levels:
        return _plot_images(ds, max_samples)
    others = [level for level in levels if level != "time"]
    if select is None:
        select = {level: ds.indexes["sample"].get_level_values(level)[0] for level in others}
    unknown = sorted(set(select) - set(others))
    if unknown:
        raise RetinaCodecError(f"cannot select by {unknown}; expected keys among {others}")
    return _plot_time(ds, select)
