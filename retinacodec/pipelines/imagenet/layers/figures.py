"""Figures of the ImageNet analyses: contribution maps next to their images, and the control
experiment across layers (contribution modes against activation modes)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ....errors import RetinaCodecError

_COLORS = {"contribution": "black", "activation": "tab:blue"}


def plot_contribution_maps(maps: xr.DataArray, pictures: np.ndarray, titles: list[str] | None = None) -> Figure:
    """Each image beside its per-mode contribution maps.

    Parameters
    ----------
    maps : xarray.DataArray
        (image, mode, y, x) from :func:`retinacodec.receptive_fields.maps.contribution_maps`, in units
        of the target.
    pictures : numpy.ndarray
        (image, y, x, 3) RGB in [0, 1], the views the maps were computed on.
    titles : list of str, optional
        One title per image.

    Returns
    -------
    matplotlib.figure.Figure
        One row per image: the image, then one map per mode (red: the mode's channels drive the
        target up from there, blue: down), on a colour scale symmetric about 0 shared by the row.
    """
    if maps.dims != ("image", "mode", "y", "x") or pictures.shape[:3] != (
        maps.sizes["image"],
        maps.sizes["y"],
        maps.sizes["x"],
    ):
        raise RetinaCodecError(
            f"maps have dims {maps.dims} and pictures shape {pictures.shape}; expected maps "
            "(image, mode, y, x) and pictures (image, y, x, 3) of the same images"
        )
    n_images, n_modes = maps.sizes["image"], maps.sizes["mode"]
    fig = Figure(figsize=(1.9 * (n_modes + 1) + 0.6, 1.9 * n_images + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(n_images, n_modes + 1, squeeze=False))
    for i in range(n_images):
        axes[i, 0].imshow(pictures[i])
        axes[i, 0].set_title(titles[i] if titles else f"image {i}", fontsize=8)
        row = maps.isel(image=i).values
        vmax = max(float(np.abs(row).max()), 1e-12)
        for m in range(n_modes):
            shown = axes[i, m + 1].imshow(row[m], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            axes[i, m + 1].set_title(f"mode {int(maps['mode'].values[m])}", fontsize=8)
        fig.colorbar(shown, ax=axes[i, -1], shrink=0.8, label="contribution")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    layer = maps.attrs.get("layer", "")
    fig.suptitle(f"contribution maps of the top modes, layer {layer}", fontsize=10)
    return fig


def plot_layerwise_control(summary: xr.Dataset) -> Figure:
    """Network control across layers: ablating or preserving the top channels of the mode most
    associated with a class, contribution modes against activation modes.

    Parameters
    ----------
    summary : xarray.Dataset
        The summary of :func:`retinacodec.pipelines.imagenet.layers.run.run_imagenet`: ``target_accuracy`` and
        ``off_target_accuracy`` (layer, selection, intervention), means over the control classes.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels over layers, one above the other: target-class accuracy after ablation, after
        preservation, and off-target accuracy (solid: ablation, dashed: preservation); grey dotted:
        unperturbed.
    """
    for name in ("target_accuracy", "off_target_accuracy"):
        if name not in summary or set(summary[name].dims) != {"layer", "selection", "intervention"}:
            raise RetinaCodecError(
                f"summary lacks {name} (layer, selection, intervention); expected the summary of run_imagenet"
            )
    layers = [str(v) for v in summary["layer"].values]
    x = np.arange(len(layers))
    fig = Figure(figsize=(max(6.0, 0.45 * len(layers)), 8.0), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, sharey=True)
    panels = (
        ("target_accuracy", ("ablate",), "ablation: target-class accuracy"),
        ("target_accuracy", ("preserve",), "preservation: target-class accuracy"),
        ("off_target_accuracy", ("ablate", "preserve"), "off-target accuracy"),
    )
    for ax, (variable, interventions, title) in zip(axes, panels):
        values = summary[variable]
        ax.plot(x, values.sel(intervention="none").mean("selection").values, ":", color="grey", label="unperturbed")
        selections = summary["selection"].values
        for k, selection in enumerate(selections):
            shift = 0.08 * (k - (len(selections) - 1) / 2)  # side by side where the values coincide
            for intervention in interventions:
                ax.plot(
                    x + shift,
                    values.sel(selection=selection, intervention=intervention).values,
                    "o-" if intervention == "ablate" else "s--",
                    color=_COLORS.get(str(selection)),
                    ms=3,
                    label=f"{selection} modes, {intervention}",
                )
        ax.set_title(title, fontsize=10)
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("accuracy")
    axes[-1].set_xticks(x, layers, rotation=60 if len(layers) > 6 else 0, fontsize=7)
    axes[-1].set_xlabel("layer")
    fig.legend(*axes[-1].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=7, frameon=False)
    fig.suptitle(
        f"network control with {summary.attrs.get('control_fraction', 0.02) * 100:g} % of the channels, "
        f"{summary.attrs.get('model', '')}",
        fontsize=10,
    )
    return fig
