"""Figures of classifier control curves (:mod:`retinacodec.control.curves`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

COLOURS = {"contribution": "tab:red", "activation": "tab:blue", "random": "0.5"}


def plot_control_curves(summaries: Mapping[str, xr.Dataset], intervention: str) -> Figure:
    """Target (solid) and off-target (dashed) accuracy against the fraction of channels, one panel
    per layer, for each selection, with bootstrap intervals (bands) of the target accuracy.

    Parameters
    ----------
    summaries : mapping of str to xarray.Dataset
        Layer -> :func:`retinacodec.control.curves.curve_summary` result.
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
        x = 100 * part["fraction"].values
        for selection in part["selection"].values:
            curve = part.sel(selection=selection)
            colour = COLOURS.get(str(selection), None)
            ax.plot(x, curve["target_accuracy"], "-o", ms=3, color=colour, label=f"{selection}")
            ax.fill_between(
                x, curve["target_accuracy_low"], curve["target_accuracy_high"], color=colour, alpha=0.2, lw=0
            )
            ax.plot(x, curve["off_target_accuracy"], "--", color=colour, lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(x, [f"{v:g}" for v in x], fontsize=7)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{layer} ({ds.attrs.get('n_channels_layer', '?')} channels)", fontsize=9)
        ax.axvline(2, color="0.8", lw=0.8, zorder=0)
    label_layer_grid(axes, n, columns, "accuracy", intervention)
    fig.suptitle(f"{intervention}: top channels of the class's mode (held-out images, 95 % bootstrap bands)")
    return fig


def label_layer_grid(axes, n: int, columns: int, ylabel: str, intervention: str) -> None:
    """Finish a grid of per-layer curve panels: hide the unused ones, label the outer axes, and give
    the first panel the legend of solid target and dashed off-target curves."""
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(ylabel)
    for ax in axes[-columns:]:
        ax.set_xlabel(f"% of channels {'ablated' if intervention == 'ablate' else 'preserved'}")
    axes[0].legend(fontsize=7, title="solid: target, dashed: off-target", title_fontsize=7)


def plot_layerwise_control(summaries: Mapping[str, xr.Dataset]) -> Figure:
    """Specificity per layer (target-class effect minus off-target effect, area under the curve
    over log fraction) for each selection, ablate and preserve side by side, with bootstrap
    intervals; the lower row is the contribution-minus-activation gap."""
    layers = list(summaries)
    first = next(iter(summaries.values()))
    fig = Figure(figsize=(9, 5.5), constrained_layout=True)
    axes = fig.subplots(2, 2, sharex=True)
    x = np.arange(len(layers))
    for column, intervention in enumerate(first["intervention"].values):
        ax = axes[0, column]
        for k, selection in enumerate(first["selection"].values):
            values = [summaries[l].sel(selection=selection, intervention=intervention) for l in layers]
            mid = np.array([float(v["specificity_auc"]) for v in values])
            low = np.array([float(v["specificity_auc_low"]) for v in values])
            high = np.array([float(v["specificity_auc_high"]) for v in values])
            ax.errorbar(
                x + (k - 1) * 0.08,
                mid,
                yerr=[mid - low, high - mid],
                fmt="-o",
                ms=4,
                capsize=2,
                color=COLOURS.get(str(selection)),
                label=str(selection),
            )
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set_title(f"{intervention}: target minus off-target effect (AUC)", fontsize=9)
        gap = axes[1, column]
        if "gap_auc" in first:
            mid = np.array([float(summaries[l]["gap_auc"].sel(intervention=intervention)) for l in layers])
            low = np.array([float(summaries[l]["gap_auc_low"].sel(intervention=intervention)) for l in layers])
            high = np.array([float(summaries[l]["gap_auc_high"].sel(intervention=intervention)) for l in layers])
            gap.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="-o", ms=4, capsize=2, color="k")
        gap.axhline(0, color="0.7", lw=0.8)
        gap.set_title("contribution minus activation", fontsize=9)
        gap.set_xticks(x, layers, rotation=45, fontsize=8)
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_ylabel("specificity AUC")
    axes[1, 0].set_ylabel("gap")
    return fig
