"""Figures of modes (SAE dictionaries and loadings) and of the contribution-vs-activation statistics."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import RetinaCodecError
from ..modes.result import Modes
from ..modes.sae import SAE

_COLORS = {"contribution": "black", "activation": "tab:blue"}


def plot_modes(
    modes: Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray,
    loadings: xr.DataArray | np.ndarray | None = None,
    *,
    max_modes: int = 30,
    max_samples: int = 2000,
) -> Figure:
    """Heat map of the mode dictionary and, when given, the loadings over samples.

    Parameters
    ----------
    modes : Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray
        Modes, or anything :meth:`~retinacodec.modes.result.Modes.coerce` takes: a fitted
        :class:`~retinacodec.modes.sae.SAE`, a modes Dataset, or a dictionary (mode, channel) or
        (mode, feature) with a stacked (channel, sign) ``feature`` index.
    loadings : xarray.DataArray, numpy.ndarray or None
        (sample, mode) loadings from ``SAE.transform`` (by default those the modes hold, if any).
        Modes are then ordered by how often they are active and never-active modes are left out.
    max_modes : int
        At most this many modes are drawn (the most used, or the largest atoms).
    max_samples : int
        At most this many samples (the first ones) are drawn in the loadings panel.

    Returns
    -------
    matplotlib.figure.Figure
        Top: one heat map per sign (or one) of mode x channel weights, in the input's units.
        Bottom (with loadings): loadings of the drawn modes over samples.
    """
    modes = Modes.coerce(modes)
    atoms = _modes_array(modes)
    loadings = modes.loadings if loadings is None else loadings
    if loadings is not None:
        load = np.asarray(loadings, dtype=np.float64)
        if load.ndim != 2 or load.shape[1] != atoms.sizes["mode"]:
            raise RetinaCodecError(
                f"loadings have shape {load.shape}; expected (sample, {atoms.sizes['mode']}) to match the modes"
            )
        usage = (load > 0).mean(0)
        order = [m for m in np.argsort(-usage, kind="stable") if usage[m] > 0][:max_modes]
    else:
        order = list(np.argsort(-np.abs(atoms.values).sum(1), kind="stable")[:max_modes])
    atoms = atoms.isel(mode=order)
    panels = _sign_panels(atoms)
    n_rows = 2 if loadings is not None else 1
    fig = Figure(figsize=(4.0 + 3.0 * len(panels), 3.0 + 2.5 * n_rows), layout="constrained")
    grid = fig.add_gridspec(n_rows, len(panels))
    vmax = max(float(np.abs(atoms.values).max()), 1e-12)
    nonnegative = bool((atoms.values >= 0).all())
    for column, (title, panel, cmap) in enumerate(panels):
        ax = fig.add_subplot(grid[0, column])
        image = ax.imshow(
            panel.values,
            aspect="auto",
            interpolation="nearest",
            cmap=cmap if nonnegative else "RdBu_r",
            vmin=0 if nonnegative else -vmax,
            vmax=vmax,
        )
        ax.set_title(title)
        ax.set_xlabel(str(panel.dims[1]))
        ax.set_ylabel("mode")
        _label_axis(ax.set_yticks, ax.set_yticklabels, [str(m) for m in panel["mode"].values])
        _label_axis(ax.set_xticks, ax.set_xticklabels, [str(c) for c in panel[panel.dims[1]].values])
        fig.colorbar(image, ax=ax, label="mode weight (input units)", shrink=0.8)
    if loadings is not None:
        ax = fig.add_subplot(grid[1, :])
        shown = load[:max_samples][:, order].T
        image = ax.imshow(shown, aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel(f"sample (first {shown.shape[1]})")
        ax.set_ylabel("mode")
        ax.set_title("loadings")
        _label_axis(ax.set_yticks, ax.set_yticklabels, [str(m) for m in atoms["mode"].values])
        fig.colorbar(image, ax=ax, label="loading")
    return fig


def plot_sparsity(result: xr.Dataset) -> Figure:
    """Hoyer sparsity (median and interquartile range over samples) and the near-zero fraction
    per layer, contributions against activations.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`retinacodec.modes.compare.sparsity`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _per_layer_range(left, result["hoyer"], "Hoyer sparsity (median, IQR)")
    _per_layer_lines(
        right,
        result["near_zero_fraction"],
        f"near-zero fraction (|x| <= {result['near_zero_fraction'].attrs.get('rtol', '?')} max)",
    )
    return fig


def plot_dimensions(result: xr.Dataset) -> Figure:
    """PCA dimensions needed for the chosen fraction of variance, per layer.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`retinacodec.modes.compare.pca_dimensions`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    _per_layer_lines(
        ax, result["n_dimensions"], f"PCA dimensions for {100 * result.attrs.get('variance', 0.95):g} % variance"
    )
    x = np.arange(result.sizes["layer"])
    ax.plot(x, result["n_channels"].max("variable").values, ":", color="grey", label="channels")
    ax.legend(frameon=False)
    return fig


def plot_stability(results: dict[str, xr.Dataset]) -> Figure:
    """Each live mode's stability across seeds, modes sorted from most to least stable.

    Parameters
    ----------
    results : dict
        Curve name (e.g. ``"bipolar contribution"``) -> a :func:`~retinacodec.modes.workflow.fit_modes`
        result holding ``stability`` (mode).

    Returns
    -------
    matplotlib.figure.Figure
        Matched cosine (1: the same mode in every other seed's fit) against the mode's rank.
    """
    missing = [name for name, result in results.items() if "stability" not in result]
    if not results or missing:
        raise RetinaCodecError(
            f"no stability in {missing or 'an empty dict'}; expected fit_modes results fitted with stability_fits > 0"
        )
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    for name, result in results.items():
        scores = np.sort(result["stability"].values[np.isfinite(result["stability"].values)])[::-1]
        ax.plot(np.arange(1, len(scores) + 1), scores, marker=".", label=f"{name} (mean {scores.mean():.2f})")
    ax.set(
        xlabel="live mode, most stable first",
        ylabel="matched cosine with other seeds",
        ylim=(0, 1.02),
        title="Mode stability across seeds",
    )
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_mode_labels(result: xr.Dataset) -> Figure:
    """Label specificity of contribution and activation modes per layer: number of modes whose
    best label correlation exceeds the threshold, and the distribution of those correlations.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`retinacodec.modes.compare.mode_label_comparison`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    threshold = result.attrs.get("threshold", 0.2)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _per_layer_lines(left, result["n_modes_above"], f"modes with max label r > {threshold:g}")
    quantiles = result["max_correlation"].quantile([0.25, 0.5, 0.75], dim="mode", skipna=True)
    _per_layer_range(right, quantiles, "max label correlation per mode (median, IQR)")
    right.axhline(threshold, color="grey", lw=0.8, ls="--")
    return fig


def plot_sign_correlation(result: xr.Dataset) -> Figure:
    """Correlation between each channel's positive and negative contributions, per layer
    (median and interquartile range over channels).

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`retinacodec.modes.compare.sign_correlation`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    _per_layer_range(
        ax,
        result["correlation"].expand_dims(variable=[result.attrs.get("variable", "")]),
        "corr(pos, |neg|) over channels",
    )
    ax.axhline(0, color="grey", lw=0.8)
    return fig


# ----------------------------------------------------------------------------- helpers
def _modes_array(modes: Modes) -> xr.DataArray:
    atoms = modes.dictionary
    if atoms.ndim != 2:
        raise RetinaCodecError(f"modes have dims {atoms.dims}; expected (mode, channel) or (mode, feature)")
    return atoms.transpose("mode", ...)


def _sign_panels(atoms: xr.DataArray) -> list[tuple[str, xr.DataArray, str]]:
    """(title, (mode, channel) array, colour map for non-negative weights): one per sign for
    split-sign modes, else one."""
    feature = str(atoms.dims[1])
    if "sign" in atoms.coords and atoms["sign"].dims == (feature,):
        unstacked = atoms.unstack(feature)
        return [
            (f"modes: {sign} contributions (magnitude)", unstacked.sel(sign=sign).transpose("mode", ...), cmap)
            for sign, cmap in (("pos", "Reds"), ("neg", "Blues"))
        ]
    return [("modes", atoms, "viridis")]


def _label_axis(set_ticks, set_labels, labels: list[str], most: int = 40) -> None:
    """Tick every entry when there are few, else let matplotlib choose."""
    if len(labels) <= most:
        set_ticks(range(len(labels)))
        set_labels(labels, fontsize=7)


def _layer_axis(ax, layers) -> np.ndarray:
    x = np.arange(len(layers))
    ax.set_xticks(x)
    ax.set_xticklabels([str(layer) for layer in layers], rotation=45 if len(layers) > 6 else 0)
    ax.set_xlabel("layer")
    return x


def _per_layer_lines(ax, values: xr.DataArray, title: str) -> None:
    x = _layer_axis(ax, values["layer"].values)
    for variable in values["variable"].values:
        ax.plot(x, values.sel(variable=variable).values, "o-", label=str(variable), color=_COLORS.get(str(variable)))
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)


def _per_layer_range(ax, quantiles: xr.DataArray, title: str) -> None:
    """Median with a shaded interquartile band, one line per variable."""
    x = _layer_axis(ax, quantiles["layer"].values)
    for variable in quantiles["variable"].values:
        q = quantiles.sel(variable=variable)
        color = _COLORS.get(str(variable))
        ax.plot(x, q.sel(quantile=0.5).values, "o-", label=str(variable), color=color)
        ax.fill_between(x, q.sel(quantile=0.25).values, q.sel(quantile=0.75).values, alpha=0.25, color=color)
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
