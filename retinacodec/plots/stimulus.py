"""Stimulus figure: a row of frames and the mean-luminance trace."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec

from .._validation import check_int
from ..stimuli.base import validate_stimulus


def plot_stimulus(stim: xr.DataArray, n_shown: int = 6) -> Figure:
    """Show a few frames of a stimulus and its spatial mean and standard deviation over time.

    Parameters
    ----------
    stim : xarray.DataArray
        Stimulus, dims (time, y, x), contrast in [-1, 1].
    n_shown : int
        Number of frames shown, evenly spaced from the first to the last (all frames if the
        stimulus has fewer).

    Returns
    -------
    matplotlib.figure.Figure
        Top row: the frames on a fixed grey scale from -1 (black) to +1 (white), titled with
        their times in s. Bottom: the mean over pixels (mean luminance, as contrast) and the standard
        deviation over pixels (spatial contrast) against time, with the shown frames marked.
    """
    stim = validate_stimulus(stim)
    n_shown = min(check_int("n_shown", n_shown), stim.sizes["time"])
    shown = np.unique(np.linspace(0, stim.sizes["time"] - 1, n_shown).round().astype(int))
    times = stim["time"].values

    fig = Figure(figsize=(max(2.0 * len(shown), 6.0), 4.6), layout="constrained")
    grid = GridSpec(2, len(shown), figure=fig, height_ratios=[1.0, 0.8])
    for column, index in enumerate(shown):
        ax = fig.add_subplot(grid[0, column])
        image = ax.imshow(stim.values[index], cmap="gray", vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"{times[index]:.2f} s", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="contrast")

    trace_ax = fig.add_subplot(grid[1, :])
    trace_ax.plot(times, stim.mean(("y", "x")).values, color="k", lw=1.0, label="mean luminance")
    trace_ax.plot(times, stim.std(("y", "x")).values, color="tab:orange", lw=0.8, label="spatial std")
    for index in shown:
        trace_ax.axvline(times[index], color="0.7", lw=0.6, ls=":")
    trace_ax.set_ylim(-1.05, 1.05)
    trace_ax.set_xlim(times[0], times[-1] if len(times) > 1 else times[0] + 1.0)
    trace_ax.set_xlabel("time (s)")
    trace_ax.set_ylabel("contrast")
    trace_ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=2, borderaxespad=0.0)

    title = stim.attrs.get("kind", "stimulus")
    if "protocol" in stim.attrs and stim.attrs["protocol"] != title:
        title = f"{title} ({stim.attrs['protocol']})"
    size = f"{stim.sizes['y']} x {stim.sizes['x']} px at {stim.attrs['frame_rate_hz']:g} Hz"
    fig.suptitle(f"{title}: {stim.sizes['time']} frames of {size}", fontsize=10)
    return fig
