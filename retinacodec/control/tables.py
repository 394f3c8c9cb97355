"""Plain-text tables of control results, as ``retinacodec control`` prints them."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .curves.retina import curve_summary


def control_table(result: xr.Dataset, target: tuple[str, object] | None = None) -> str:
    """Mean rate change (Hz) and correlation per (cell group, intervention), channel selections side
    by side.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`~retinacodec.control.experiments.retina_control`.
    target : tuple, optional
        (sample coord, label): the groups are the target's cells and the others; without a target,
        all cells.

    Returns
    -------
    str
        The table, one line per (group, intervention) under two header lines.
    """
    groups = [("all cells", np.ones(result.sizes["cell"], dtype=bool))]
    if target is not None:
        coord, label = target
        mask = np.asarray(result[coord].values).astype(str) == str(label)
        named = (f"{label} cells" if coord == "cell_type" else f"cell {label}", mask), ("other cells", ~mask)
        groups = [group for group in named if group[1].any()]
    groups = [(f"{name} ({int(mask.sum())})", mask) for name, mask in groups]
    selections = [str(name) for name in result["selection"].values]
    width = max(13, *(len(name) + 2 for name in selections))
    first = max(len(name) for name, _ in groups) + 2
    block = width * len(selections)
    lines = [
        f"{'':<{first + 14}}{'rate change (Hz)':>{block}}{'correlation':>{block}}",
        f"{'cells':<{first}}{'intervention':<14}" + "".join(f"{name:>{width}}" for name in selections) * 2,
    ]
    for name, mask in groups:
        chosen = result.isel(cell=np.flatnonzero(mask))
        change = chosen["rate_change"].mean("cell").transpose("intervention", "selection").values
        correlation = chosen["correlation"].mean("cell", skipna=True).transpose("intervention", "selection").values
        for i, intervention in enumerate(result["intervention"].values):
            lines.append(
                f"{name:<{first}}{intervention!s:<14}"
                + "".join(f"{value:>+{width}.2f}" for value in change[i])
                + "".join(f"{value:>{width}.3f}" for value in correlation[i])
            )
    return "\n".join(lines)


def curves_table(curves: xr.Dataset) -> str:
    """Specificity per (target, intervention, k), selections side by side (± SE; random ± SD over
    draws), then its mean over targets and k per intervention (:func:`curve_summary`).

    Parameters
    ----------
    curves : xarray.Dataset
        From :func:`~retinacodec.control.curves.retina.retina_control_curves`.

    Returns
    -------
    str
        A header line, one line per (target, intervention, k), one line of means per intervention.
    """
    selections = [str(s) for s in curves["selection"].values]
    lines = [f"{'target':<10}{'intervention':<14}{'k':>3}" + "".join(f"{name:>22}" for name in selections)]
    for target in curves["target"].values:
        for intervention in curves["intervention"].values:
            for k in curves["k"].values:
                point = curves.sel(target=target, intervention=intervention, k=k)
                cells = []
                for name in selections:
                    value = point.sel(selection=name)
                    error = value["specificity_spread" if name == "random" else "specificity_se"]
                    cells.append(f"{float(value['specificity']):+.3f} ± {float(error):.3f}")
                lines.append(f"{target!s:<10}{intervention!s:<14}{int(k):>3}" + "".join(f"{c:>22}" for c in cells))
    summary = curve_summary(curves)
    for intervention in summary["intervention"].values:
        means = summary["mean_specificity"].sel(intervention=intervention)
        lines.append(
            f"mean over targets and k, {intervention}: "
            + ", ".join(f"{name} {float(means.sel(selection=name)):+.3f}" for name in summary["selection"].values)
        )
    return "\n".join(lines)
