"""Figure of the virtual retina's phenomena battery: flash responses and object-motion sensitivity."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError

TYPE_LABELS = {"on": "ON", "off": "OFF", "on_off": "ON-OFF", "oms": "OMS"}
EPOCH_SHADE = {"light": "#fff3b0", "dark": "#c9c9c9"}


def plot_phenomena(
    flash: xr.Dataset,
    oms: xr.DataArray,
    oms_blocked: xr.DataArray | None = None,
    flash_blocked: xr.Dataset | None = None,
    max_distance_px: float = 3.0,
) -> Figure:
    """Flash responses per cell type and the OMS index with and without a block.

    Parameters
    ----------
    flash : xarray.Dataset
        Output of :func:`retinacodec.models.virtual_retina.phenomena.flash_response`: ``rate`` (time, cell)
        in Hz with coords ``cell_type`` and ``epoch``.
    oms : xarray.DataArray
        Output of :func:`retinacodec.models.virtual_retina.phenomena.oms_index`, dim (cell).
    oms_blocked : xarray.DataArray, optional
        The same under a block (e.g. the wide-field amacrine); its ``block`` attr labels the bars.
    flash_blocked : xarray.Dataset, optional
        Flash responses under a block (e.g. L-AP4), drawn dashed.
    max_distance_px : float
        Only cells this close to the object's centre (px) enter the OMS bars.

    Returns
    -------
    matplotlib.figure.Figure
        Top row: mean rate (Hz) of each cell type against time (s), light and dark epochs shaded.
        Bottom: OMS index per cell type (mean over the central cells; dots: single cells).
    """
    if "rate" not in flash or "epoch" not in flash["rate"].coords:
        raise RetinaCodecError("flash has no rate with an epoch coord; expected flash_response() output")
    if "distance_px" not in oms.coords:
        raise RetinaCodecError("oms has no distance_px coord; expected oms_index() output")
    types = [t for t in TYPE_LABELS if t in set(flash["cell_type"].values)]
    fig = Figure(figsize=(3.0 * len(types), 6.2), layout="constrained")
    grid = fig.add_gridspec(2, len(types))
    time = flash["time"].values
    epochs = flash["epoch"].values
    for column, cell_type in enumerate(types):
        ax = fig.add_subplot(grid[0, column])
        for name, colour in EPOCH_SHADE.items():
            inside = epochs == name
            if inside.any():
                ax.axvspan(time[inside][0], time[inside][-1], color=colour, zorder=0, label=name)
        for data, style, label in ((flash, "-", "control"), (flash_blocked, "--", None)):
            if data is None:
                continue
            rate = data["rate"].where(data["cell_type"] == cell_type, drop=True)
            ax.plot(
                time, rate.mean("cell"), style, color="k", lw=1.4, label=label or f"{data.attrs.get('block', 'block')}"
            )
        ax.set_title(f"{TYPE_LABELS[cell_type]} cells")
        ax.set_xlabel("time (s)")
        if column == 0:
            ax.set_ylabel("rate (Hz)")
            ax.legend(fontsize=7, loc="upper left")
    ax = fig.add_subplot(grid[1, :])
    conditions = [("control", oms)] + (
        [(oms_blocked.attrs.get("block", "block"), oms_blocked)] if oms_blocked is not None else []
    )
    width = 0.8 / len(conditions)
    for k, (label, index) in enumerate(conditions):
        central = index.where(index["distance_px"] <= max_distance_px, drop=True)
        for column, cell_type in enumerate(types):
            values = central.values[central["cell_type"].values == cell_type]
            x = column + (k - (len(conditions) - 1) / 2) * width
            ax.bar(
                x,
                values.mean() if values.size else np.nan,
                width * 0.9,
                color=f"C{k}",
                label=label if column == 0 else None,
            )
            ax.plot(np.full(values.size, x), values, "k.", ms=4)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(types)), [TYPE_LABELS[t] for t in types])
    ax.set_ylabel("OMS index\n(r_diff - r_glob) / (r_diff + r_glob)")
    ax.set_title(f"object-motion sensitivity (cells within {max_distance_px:g} px of the object centre)")
    ax.legend(fontsize=8)
    return fig
