"""The stimuli a cell's modes prefer beside the cell's most exciting input: the frame at each
stimulus's peak and the time course at its centre."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from ..hypotheses.match import type_name


def peak(movie: np.ndarray, centre: float) -> tuple[int, int, int]:
    """(frame, y, x) of a (time, y, x) movie's peak: the pixel whose deviation from ``centre`` has
    the largest energy over time, and the frame of its largest deviation there."""
    deviation = movie - centre
    y, x = np.unravel_index(np.square(deviation).sum(0).argmax(), movie.shape[1:])
    return int(np.abs(deviation[:, y, x]).argmax()), int(y), int(x)


def preferred_stimuli_figure(preferred: xr.Dataset, agreement: xr.Dataset | None = None) -> Figure:
    """The most exciting input and each mode's preferred stimulus at one cell.

    Parameters
    ----------
    preferred : xarray.Dataset
        From :func:`~retinacodec.hypotheses.preferred.preferred_stimuli`.
    agreement : xarray.Dataset, optional
        From :func:`~retinacodec.hypotheses.preferred.irf_agreement`: each column's title then gives
        its correlation r with the IRF.

    Returns
    -------
    matplotlib.figure.Figure
        One column per stimulus (the most exciting input first). Top: the frame at the stimulus's
        peak on a grey scale of +-``design_max_contrast`` around the bounds' centre, the peak pixel
        marked. Bottom: the contrast at the peak pixel over the stimulus's time (s).
    """
    if "preferred_stimulus" not in preferred or "most_exciting_input" not in preferred:
        raise RetinaCodecError("expected the Dataset of retinacodec.hypotheses.preferred.preferred_stimuli()")
    centre = float(preferred.attrs.get("contrast_centre", 0.0))
    bound = float(preferred.attrs.get("design_max_contrast", 1.0))
    columns = [
        (
            "most exciting input",
            preferred["most_exciting_input"],
            f"{float(preferred['mei_rate']):.0f} Hz",
            None if agreement is None else float(agreement["mei_irf_correlation"]),
        )
    ]
    columns += [
        (
            f"mode {m}",
            preferred["preferred_stimulus"].sel(mode=m),
            f"loading {float(preferred['preferred_loading'].sel(mode=m)):.2f}",
            None if agreement is None else float(agreement["irf_correlation"].sel(mode=m)),
        )
        for m in preferred["mode"].values
    ]
    fig = Figure(figsize=(2.1 * len(columns), 4.4), layout="constrained")
    grid = fig.add_gridspec(2, len(columns), height_ratios=[1.4, 1.0])
    fig.suptitle(f"cell {int(preferred['cell'])} ({type_name(str(preferred['cell_type'].values))})", fontsize=9)
    for k, (name, stimulus, value, r) in enumerate(columns):
        movie = stimulus.values
        frame, y, x = peak(movie, centre)
        top = fig.add_subplot(grid[0, k])
        top.imshow(movie[frame], cmap="gray", vmin=centre - bound, vmax=centre + bound)
        top.plot([x], [y], marker="+", color="C3", ms=6)
        top.set_xticks([])
        top.set_yticks([])
        top.set_title(f"{name}\n{value}" + ("" if r is None else f"\nr with IRF {r:+.2f}"), fontsize=7)
        bottom = fig.add_subplot(grid[1, k])
        bottom.plot(stimulus["time"].values, movie[:, y, x] - centre, color="C0", lw=1.0)
        bottom.axhline(0.0, color="0.6", lw=0.6)
        bottom.set_ylim(-bound, bound)
        bottom.set_xlabel("time (s)", fontsize=7)
        if k == 0:
            bottom.set_ylabel("contrast at peak", fontsize=7)
        bottom.tick_params(labelsize=6)
    return fig
