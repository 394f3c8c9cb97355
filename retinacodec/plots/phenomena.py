"""Phenomena by mode: each mode's share of a phenomenon's response contrast per cell type, and, when
checked on the virtual retina, the block of the leading mode's pathway against the control blocks."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from ..hypotheses.match import PATHWAY_NAMES, type_name
from ..hypotheses.phenomena import KIND, PHENOMENON_NAMES
from ..hypotheses.phenomena_check import CHECK_KIND

MIN_CONTRAST_HZ = 0.1
"""Contrasts smaller than this (Hz) are left blank: their shares are ratios of near-zero numbers."""


def _columns(by_mode: xr.Dataset, phenomenon: str, max_modes: int) -> tuple[list[str], np.ndarray]:
    """Column labels and (cell_type, column) shares: the modes with the largest shares, the other
    modes together, the unassigned part."""
    share = by_mode["share"].sel(phenomenon=phenomenon).transpose("cell_type", "mode")
    contrast = by_mode["contrast"].sel(phenomenon=phenomenon).values
    values = np.nan_to_num(share.values) * (np.abs(contrast)[:, None] >= MIN_CONTRAST_HZ)
    top = np.argsort(-np.abs(values).max(axis=0), kind="stable")[:max_modes]
    rest = np.setdiff1d(np.arange(values.shape[1]), top)
    unassigned = np.divide(
        by_mode["unassigned"].sel(phenomenon=phenomenon).values,
        contrast,
        out=np.zeros_like(contrast, dtype=float),
        where=contrast != 0,
    )
    named = by_mode["pathway"].values if "pathway" in by_mode else [""] * values.shape[1]
    labels = [
        f"mode {int(share['mode'].values[m])}"
        + (f" ({PATHWAY_NAMES.get(str(named[m]), named[m])})" if named[m] else "")
        for m in top
    ]
    labels += ["other modes", "unassigned"]
    table = np.column_stack([values[:, top], values[:, rest].sum(axis=1), unassigned])
    return labels, np.where(np.abs(contrast)[:, None] >= MIN_CONTRAST_HZ, table, np.nan)


def _shares(ax, by_mode: xr.Dataset, phenomenon: str, max_modes: int) -> None:
    labels, values = _columns(by_mode, phenomenon, max_modes)
    types = [type_name(str(t)) for t in by_mode["cell_type"].values]
    ax.imshow(values, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto")
    for (row, column), value in np.ndenumerate(values):
        ax.text(column, row, "-" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=6)
    contrast = by_mode["contrast"].sel(phenomenon=phenomenon).values
    ax.set_yticks(np.arange(len(types)), [f"{t} ({c:+.1f} Hz)" for t, c in zip(types, contrast)], fontsize=7)
    ax.set_xticks(np.arange(len(labels)), labels, fontsize=6, rotation=45, ha="right")
    ax.set_title(f"{PHENOMENON_NAMES.get(phenomenon, phenomenon)}: share of the contrast", fontsize=8)


def _blocks(ax, checked: xr.Dataset) -> None:
    claims = checked["claim"].values
    controls = [str(c) for c in checked["control"].values]
    offsets = np.linspace(-0.3, 0.3, len(controls) + 1)
    series = [("block", checked["reduction"], "C3")] + [
        (f"control: {PATHWAY_NAMES.get(c, c)}", checked["control_reduction"].sel(control=c), f"C{k}")
        for k, c in enumerate(controls)
    ]
    for offset, (label, values, colour) in zip(offsets, series):
        mean = values.mean("seed").values
        spread = values.std("seed").values if values.sizes["seed"] > 1 else np.zeros_like(mean)
        ax.errorbar(np.arange(len(claims)) + offset, mean, yerr=spread, fmt="o", ms=3, color=colour, label=label)
    ax.axhline(float(checked.attrs.get("rule_min_reduction", 0.25)), color="0.5", ls="--", lw=0.7)
    ax.axhline(0.0, color="0.7", lw=0.6)
    names = [
        f"{PHENOMENON_NAMES.get(str(p), p)}, {type_name(str(t))}\n{PATHWAY_NAMES.get(str(b), b) or 'none'}: {v}"
        for p, t, b, v in zip(
            checked["phenomenon"].values,
            checked["cell_type"].values,
            checked["block"].values,
            checked["verdict"].values,
        )
    ]
    ax.set_xticks(np.arange(len(claims)), names, fontsize=6, rotation=30, ha="right")
    ax.set_ylabel("fraction of the phenomenon removed", fontsize=7)
    ax.set_title(
        "virtual retina: block of the leading mode's pathway vs control blocks (mean, SD over seeds)", fontsize=8
    )
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="best")


def plot_phenomena(by_mode: xr.Dataset, checked: xr.Dataset | None = None, max_modes: int = 5) -> Figure:
    """Each mode's share of every phenomenon per cell type and, when checked, block against control.

    Parameters
    ----------
    by_mode : xarray.Dataset
        From :func:`~retinacodec.hypotheses.phenomena.phenomena_by_mode`.
    checked : xarray.Dataset, optional
        From :func:`~retinacodec.hypotheses.phenomena_check.check_phenomena`.
    max_modes : int
        Modes shown by name per phenomenon (those with the largest share in some type); the others
        are summed.

    Returns
    -------
    matplotlib.figure.Figure
        Top: one heat map per phenomenon, cell types (with the CNN's contrast in Hz) by modes (with
        their matched pathway when ``by_mode`` holds ``pathway``), the other modes and the
        unassigned part, coloured by share (-1..1). Bottom (when checked): per
        claim, the fraction of the phenomenon a block of the leading mode's pathway removes and
        that each control block removes, mean and standard deviation over seeds; the dashed line
        is the least fraction a confirmed claim removes.

    Raises
    ------
    RetinaCodecError
        If the inputs are not these results.
    """
    if not isinstance(by_mode, xr.Dataset) or by_mode.attrs.get("kind") != KIND:
        raise RetinaCodecError("expected the Dataset of phenomena_by_mode() (attr kind = 'phenomena_by_mode')")
    if checked is not None and (not isinstance(checked, xr.Dataset) or checked.attrs.get("kind") != CHECK_KIND):
        raise RetinaCodecError("expected the Dataset of check_phenomena() (attr kind = 'phenomena_checked')")
    phenomena = [str(p) for p in by_mode["phenomenon"].values]
    fig = Figure(figsize=(3.2 * len(phenomena), 2.6 + (3.0 if checked is not None else 0.0)))
    grid = fig.add_gridspec(2 if checked is not None else 1, len(phenomena), hspace=0.9, wspace=0.6)
    for k, phenomenon in enumerate(phenomena):
        _shares(fig.add_subplot(grid[0, k]), by_mode, phenomenon, max_modes)
    if checked is not None:
        _blocks(fig.add_subplot(grid[1, :]), checked)
    return fig
