"""Network-control figure: bar charts of what ablating or preserving channel selections does."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError

PANELS = {
    "classifier_control": (
        ("target_accuracy", "target-class accuracy", (0.0, 1.05)),
        ("off_target_accuracy", "off-target accuracy", (0.0, 1.05)),
    ),
    "retina_control": (
        ("rate_change", "change of mean rate (Hz)", None),
        ("correlation", "correlation with unperturbed", (None, 1.05)),
    ),
}
"""Per result kind: (variable, axis label, y limits) of each panel."""


def plot_control(result: xr.Dataset) -> Figure:
    """Grouped bar chart of a control experiment, channel selections side by side.

    Parameters
    ----------
    result : xarray.Dataset
        The result of :func:`retinacodec.control.experiments.classifier_control` or
        :func:`retinacodec.control.experiments.retina_control` (attr ``kind``).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; in each, one group of bars per intervention (none, ablate, preserve) and one
        bar per channel selection (e.g. contribution vs activation modes). Classifier: target-class
        and off-target accuracy. Retina: change of each cell's mean rate (Hz) and correlation with
        the unperturbed response, bars the mean over cells, dots the cells.

    Raises
    ------
    RetinaCodecError
        If ``result`` is not a control result.
    """
    kind = result.attrs.get("kind") if isinstance(result, xr.Dataset) else None
    if kind not in PANELS:
        raise RetinaCodecError(
            "expected the Dataset of classifier_control() or retina_control() (attr kind = "
            f"{' or '.join(PANELS)}); got {type(result).__name__} with kind {kind!r}"
        )
    selections = result["selection"].values
    interventions = result["intervention"].values
    width = 0.8 / len(selections)
    fig = Figure(figsize=(4.2 * len(PANELS[kind]), 3.6), layout="constrained")
    axes = fig.subplots(1, len(PANELS[kind]))
    for ax, (variable, label, limits) in zip(axes, PANELS[kind]):
        values = result[variable].transpose("selection", "intervention", ...).values
        for s, name in enumerate(selections):
            x = np.arange(len(interventions)) + (s - (len(selections) - 1) / 2) * width
            per_cell = values[s].reshape(len(interventions), -1)
            with np.errstate(invalid="ignore"):
                heights = np.nanmean(per_cell, axis=1) if np.isfinite(per_cell).any() else np.full(len(x), np.nan)
            n_channels = int(result["n_channels"].sel(selection=name))
            ax.bar(x, np.nan_to_num(heights), width=width * 0.92, color=f"C{s}", label=f"{name} ({n_channels} ch)")
            if per_cell.shape[1] > 1:
                for i in range(len(interventions)):
                    ax.plot(np.full(per_cell.shape[1], x[i]), per_cell[i], "o", color="k", ms=2.5, alpha=0.6)
            for i, height in enumerate(heights):
                if not np.isfinite(height):
                    ax.text(x[i], 0.0, "n/a", ha="center", va="bottom", fontsize=7)
        ax.axhline(0.0, color="0.5", lw=0.6)
        ax.set_xticks(np.arange(len(interventions)), interventions)
        ax.set_ylabel(label)
        if limits is not None:
            ax.set_ylim(*limits)
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncols=len(selections),
        fontsize=8,
        frameon=False,
    )
    if kind == "classifier_control":
        title = (
            f"class {result.attrs.get('target_class')}: {result.attrs.get('n_target_images')} target, "
            f"{result.attrs.get('n_off_target_images')} off-target images"
        )
    else:
        title = f"{result.sizes['cell']} cells, {result.attrs.get('stimulus', 'stimulus')}"
    fig.suptitle(f"control of layer {result.attrs.get('layer')} in {result.attrs.get('model')}: {title}", fontsize=10)
    return fig


def plot_control_curves(curves: xr.Dataset) -> Figure:
    """Target specificity against the number of channels silenced, one panel per (intervention, target).

    Parameters
    ----------
    curves : xarray.Dataset
        The result of :func:`retinacodec.control.curves.retina_control_curves`.

    Returns
    -------
    matplotlib.figure.Figure
        Rows: ablate, preserve; columns: the target cell types. In each panel the specificity
        (on- minus off-target relative rate change for ablation, off minus on for preservation)
        against k, for every channel selection: mode selections with standard-error bars over
        cells, random channels as the mean over draws with a band of one standard deviation.

    Raises
    ------
    RetinaCodecError
        If ``curves`` is not a control-curves result.
    """
    if not isinstance(curves, xr.Dataset) or curves.attrs.get("kind") != "retina_control_curves":
        raise RetinaCodecError("expected the Dataset of retina_control_curves() (attr kind = 'retina_control_curves')")
    from ..hypotheses.match import type_name

    targets, interventions = curves["target"].values, curves["intervention"].values
    fig = Figure(figsize=(2.6 * len(targets) + 0.6, 2.3 * len(interventions) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(interventions), len(targets), sharex=True, squeeze=False))
    k = curves["k"].values
    for row, intervention in enumerate(interventions):
        for column, target in enumerate(targets):
            ax = axes[row, column]
            for s, selection in enumerate(curves["selection"].values):
                point = curves.sel(target=target, selection=selection, intervention=intervention)
                mean, se = point["specificity"].values, point["specificity_se"].values
                if selection == "random":
                    band = point["specificity_spread"].values
                    ax.plot(k, mean, color="0.4", lw=1.2, label=f"random (mean of {curves.attrs['n_random']})")
                    ax.fill_between(k, mean - band, mean + band, color="0.6", alpha=0.3, lw=0)
                else:
                    ax.errorbar(
                        k, mean, yerr=se, color=f"C{s}", marker="o", ms=3, lw=1.2, capsize=2, label=f"{selection} mode"
                    )
            ax.axhline(0.0, color="0.5", lw=0.6)
            if row == 0:
                ax.set_title(f"{type_name(str(target))} cells", fontsize=9)
            if column == 0:
                ax.set_ylabel(f"{intervention}: specificity", fontsize=8)
            if row == len(interventions) - 1:
                ax.set_xlabel("channels k")
            ax.tick_params(labelsize=7)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"control curves of layer {curves.attrs.get('layer')} in {curves.attrs.get('model')} "
        f"({curves.attrs.get('stimulus')})",
        fontsize=10,
    )
    return fig
