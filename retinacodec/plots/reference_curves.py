"""Figures of the reference code's control curves (:mod:`retinacodec.control.curves.reference`):
perturbed / original accuracy over the percentage of channels, and the layer scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .control_curves import COLOURS, label_layer_grid


def plot_ratio_curves(summaries: Mapping[str, xr.Dataset], intervention: str) -> Figure:
    """Mean ratio of perturbed to original accuracy over trials against the percentage of
    channels, target (solid, band: ± SEM) and off-target (dashed), one panel per layer, for each
    selection (the random channels' curve beside the modes').

    Parameters
    ----------
    summaries : mapping of str to xarray.Dataset
        Layer -> :func:`retinacodec.control.curves.reference.ratio_summary` result.
    intervention : {"ablate", "preserve"}
        Which curves.
    """
    n = len(summaries)
    columns = min(4, n)
    rows = -(-n // columns)
    fig = Figure(figsize=(3.2 * columns, 2.7 * rows), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax, (layer, ds) in zip(axes, summaries.items()):
        part = ds.sel(intervention=intervention)
        x = part["pct"].values
        for selection in part["selection"].values:
            curve = part.sel(selection=selection)
            colour = COLOURS.get(str(selection), None)
            target = curve["ratio_mean"].sel(role="target").values
            sem = curve["ratio_sem"].sel(role="target").values
            ax.plot(x, target, "-o", ms=3, color=colour, label=str(selection))
            ax.fill_between(x, target - sem, target + sem, color=colour, alpha=0.2, lw=0)
            ax.plot(x, curve["ratio_mean"].sel(role="off_target").values, "--", color=colour, lw=1)
        ax.axhline(1, color="0.8", lw=0.8, zorder=0)
        ax.set_xlim(0, 100)
        ax.set_title(f"{layer} ({ds.attrs.get('n_channels_layer', '?')} channels)", fontsize=9)
    label_layer_grid(axes, n, columns, "perturbed / original accuracy", intervention)
    fig.suptitle(f"{intervention} (codec protocol): mean over trials, band ± SEM")
    return fig


def plot_layer_scores(summaries: Mapping[str, xr.Dataset]) -> Figure:
    """Layer score ``(AUC_target - AUC_off) / AUC_off`` per layer for each selection, ablate and
    preserve side by side, with bootstrap intervals over trials."""
    layers = list(summaries)
    first = next(iter(summaries.values()))
    fig = Figure(figsize=(9, 3.2), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(1, first.sizes["intervention"], sharex=True, squeeze=False)).ravel()
    x = np.arange(len(layers))
    for ax, intervention in zip(axes, first["intervention"].values):
        for k, selection in enumerate(first["selection"].values):
            values = [summaries[layer].sel(selection=selection, intervention=intervention) for layer in layers]
            mid, low, high = (np.array([float(v[key]) for v in values]) for key in ("score", "score_low", "score_high"))
            ax.errorbar(
                x + (k - 1) * 0.08,
                mid,
                yerr=np.clip([mid - low, high - mid], 0, None),  # a percentile interval may miss the data's value
                fmt="-o",
                ms=4,
                color=COLOURS.get(str(selection)),
                label=str(selection),
            )
        ax.axhline(0, color="0.6", ls="--", lw=0.8)
        ax.set_xlim(-0.5, len(layers) - 0.5)
        ax.set_title(str(intervention), fontsize=9)
        ax.set_xticks(x, layers, rotation=45, fontsize=7)
        ax.set_ylabel("(AUC target - AUC off) / AUC off")
    axes[0].legend(fontsize=7)
    return fig
