"""Contributions versus activations: the statistics the CODEC paper compares, layer by layer.

Every function takes one contributions Dataset (variables ``contribution`` and ``activation``,
dims (sample, channel) or (sample, channel, sign)) or a mapping layer name -> Dataset, and
returns a labeled xarray result with a ``layer`` dim (and a ``variable`` dim where both
variables are compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import xarray as xr
from sklearn.decomposition import PCA

from .. import __version__
from .._progress import progress_bar
from ..errors import RetinaCodecError
from ..metrics import correlation_matrix
from ._inputs import SIGN_DIM, as_feature_matrix, sample_dim, select_variable

VARIABLES = ("contribution", "activation")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


# ---------------------------------------------------------------- measures on plain arrays
def hoyer(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Hoyer's sparsity of each vector along ``axis``: 0 for a constant vector, 1 for one-hot.

    Parameters
    ----------
    values : numpy.ndarray
        Vectors of length n >= 2 along ``axis`` (any units; the measure is scale invariant).
    axis : int
        Axis along which each vector lies.

    Returns
    -------
    numpy.ndarray
        Sparsity in [0, 1], NaN for all-zero vectors (undefined).

    Notes
    -----
    Hoyer (2004), "Non-negative matrix factorization with sparseness constraints", JMLR 5::

        H(x) = (sqrt(n) - ||x||_1 / ||x||_2) / (sqrt(n) - 1)
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    if n < 2:
        raise RetinaCodecError(f"Hoyer sparsity needs vectors of length >= 2; got length {n}")
    l1 = np.abs(values).sum(axis)
    l2 = np.sqrt(np.square(values).sum(axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(l2 > 0, l1 / l2, np.nan)
    return (np.sqrt(n) - ratio) / (np.sqrt(n) - 1.0)


def near_zero_fraction(values: np.ndarray, rtol: float = 0.01, axis: int = -1) -> np.ndarray:
    """Fraction of entries of each vector whose magnitude is at most ``rtol`` x the vector's
    largest magnitude.

    Parameters
    ----------
    values : numpy.ndarray
        Vectors along ``axis``.
    rtol : float
        Tolerance relative to the largest magnitude of each vector (0.01 = 1 %).
    axis : int
        Axis along which each vector lies.

    Returns
    -------
    numpy.ndarray
        Fractions in [0, 1]; 1 for all-zero vectors.
    """
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    largest = magnitude.max(axis, keepdims=True)
    return (magnitude <= rtol * largest).mean(axis)


def dimensions_for_variance(values: np.ndarray, variance: float = 0.95) -> int:
    """Number of principal components that explain at least ``variance`` of the total variance.

    Parameters
    ----------
    values : numpy.ndarray
        (sample, feature) data.
    variance : float
        Fraction of variance in (0, 1].

    Returns
    -------
    int
        Smallest k with sum of the k largest explained-variance ratios >= ``variance``
        (scikit-learn's PCA; features are centred, not scaled).
    """
    if not 0.0 < variance <= 1.0:
        raise RetinaCodecError(f"variance={variance}; expected a fraction in (0, 1]")
    ratios = PCA().fit(np.asarray(values, dtype=np.float64)).explained_variance_ratio_
    cumulative = np.cumsum(ratios)
    return min(int(np.searchsorted(cumulative, variance - 1e-12)) + 1, len(ratios))


def label_correlation(loadings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of each column of ``loadings`` with each class indicator.

    Parameters
    ----------
    loadings : numpy.ndarray
        (sample, mode) loadings.
    labels : numpy.ndarray
        (sample,) class or cell-type labels.

    Returns
    -------
    correlation : numpy.ndarray
        (mode, class) correlations; 0 where a column is constant (dead modes).
    classes : numpy.ndarray
        The sorted distinct labels.
    """
    loadings = np.asarray(loadings, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.shape != (len(loadings),):
        raise RetinaCodecError(f"labels have shape {labels.shape}; expected ({len(loadings)},), one per sample")
    classes = np.unique(labels)
    indicators = (labels[:, None] == classes[None, :]).astype(np.float64)
    return correlation_matrix(loadings, indicators, constant=0.0), classes


# ------------------------------------------------------------- per-layer Dataset analyses
def sparsity(
    data: xr.Dataset | Mapping[str, xr.Dataset], variables: Sequence[str] = VARIABLES, rtol: float = 0.01
) -> xr.Dataset:
    """Per-sample sparsity of contributions and activations across channels, per layer.

    Parameters
    ----------
    data : xarray.Dataset or mapping of str to xarray.Dataset
        Contributions Dataset of one layer, or layer name -> Dataset.
    variables : sequence of str
        Variables to compare.
    rtol : float
        Relative tolerance of :func:`near_zero_fraction`.

    Returns
    -------
    xarray.Dataset
        ``hoyer`` (layer, variable, quantile): quantiles over samples of Hoyer's sparsity;
        ``hoyer_mean`` (layer, variable); ``near_zero_fraction`` (layer, variable): mean
        fraction of near-zero channels.

    Notes
    -----
    Each sample's vector over channels is measured; split-sign data are first combined into the
    net value ``|pos| - |neg|`` per channel. See :func:`hoyer` for the measure (Hoyer 2004).
    """

    def measure(values: np.ndarray) -> dict:
        h = hoyer(values, axis=1)
        return {
            "hoyer": ("quantile", np.nanquantile(h, QUANTILES)),
            "hoyer_mean": ((), np.nanmean(h)),
            "near_zero_fraction": ((), near_zero_fraction(values, rtol, axis=1).mean()),
        }

    result = _per_layer_and_variable(data, variables, measure)
    result = result.assign_coords(quantile=list(QUANTILES))
    result["hoyer"].attrs["long_name"] = "Hoyer sparsity (sqrt(n) - |x|_1/|x|_2) / (sqrt(n) - 1)"
    result["near_zero_fraction"].attrs["rtol"] = rtol
    return result.assign_attrs(analysis="sparsity", reference="Hoyer (2004) JMLR 5:1457-1469")


def pca_dimensions(
    data: xr.Dataset | Mapping[str, xr.Dataset], variables: Sequence[str] = VARIABLES, variance: float = 0.95
) -> xr.Dataset:
    """Number of principal components needed for ``variance`` of the variance, per layer.

    Parameters
    ----------
    data : xarray.Dataset or mapping of str to xarray.Dataset
        Contributions Dataset of one layer, or layer name -> Dataset.
    variables : sequence of str
        Variables to compare.
    variance : float
        Fraction of explained variance (0.95 in the paper).

    Returns
    -------
    xarray.Dataset
        ``n_dimensions`` (layer, variable) and ``n_channels`` (layer, variable); PCA over
        samples of the per-channel (net, for split-sign data) values.
    """

    def measure(values: np.ndarray) -> dict:
        return {"n_dimensions": ((), dimensions_for_variance(values, variance)), "n_channels": ((), values.shape[1])}

    result = _per_layer_and_variable(data, variables, measure)
    return result.assign_attrs(analysis="pca_dimensions", variance=variance)


def mode_labels(
    loadings: xr.DataArray | np.ndarray, labels: str | Sequence | np.ndarray, threshold: float = 0.2
) -> xr.Dataset:
    """How class- or cell-type-specific each mode is.

    Parameters
    ----------
    loadings : xarray.DataArray or numpy.ndarray
        (sample, mode) loadings from :meth:`SAE.transform`.
    labels : str or sequence
        One label per sample, or the name of a sample coord of ``loadings`` holding them
        (e.g. ``"label"`` for classifiers, ``"cell_type"`` for the retina).
    threshold : float
        Correlation above which a mode counts as label-specific (0.2 in the paper).

    Returns
    -------
    xarray.Dataset
        ``correlation`` (mode, label): Pearson r of each mode's loadings with each label's
        indicator; ``max_correlation`` and ``best_label`` (mode); ``n_modes_above`` (scalar):
        modes with ``max_correlation > threshold``.
    """
    if isinstance(labels, str):
        if not isinstance(loadings, xr.DataArray) or labels not in loadings.coords:
            raise RetinaCodecError(
                f"labels={labels!r} names no coord of the loadings; expected a sample coord name "
                "or one label per sample"
            )
        labels = loadings[labels].values
    values = np.asarray(loadings, dtype=np.float64)
    if values.ndim != 2:
        raise RetinaCodecError(f"loadings have shape {values.shape}; expected (sample, mode)")
    correlation, classes = label_correlation(values, np.asarray(labels))
    best = correlation.argmax(1)
    maximum = correlation.max(1)
    return xr.Dataset(
        {
            "correlation": (("mode", "label"), correlation),
            "max_correlation": ("mode", maximum),
            "best_label": ("mode", classes[best]),
            "n_modes_above": ((), int((maximum > threshold).sum())),
        },
        coords={"mode": np.arange(values.shape[1]), "label": classes},
        attrs={"analysis": "mode_labels", "threshold": threshold, "retinacodec_version": __version__},
    )


def mode_label_comparison(
    data: xr.Dataset | Mapping[str, xr.Dataset],
    labels: str | Sequence,
    variables: Sequence[str] = VARIABLES,
    threshold: float = 0.2,
    progress: bool = True,
    **sae_params,
) -> xr.Dataset:
    """Fit an SAE per layer and variable and compare how label-specific the modes are.

    Parameters
    ----------
    data : xarray.Dataset or mapping of str to xarray.Dataset
        Contributions Dataset of one layer, or layer name -> Dataset.
    labels : str or sequence
        Sample coord name holding the labels, or one label per sample (same for every layer).
    variables : sequence of str
        Variables to compare.
    threshold : float
        See :func:`mode_labels`.
    progress : bool
        Show a progress bar over layer x variable fits.
    **sae_params
        Parameters of :class:`~retinacodec.modes.sae.SAE` (``variable`` is set here).

    Returns
    -------
    xarray.Dataset
        ``n_modes_above``, ``best_correlation`` (largest max-correlation), ``r2`` (layer,
        variable) and ``max_correlation`` (layer, variable, mode), NaN-padded where layers have
        fewer modes; dead modes are excluded.
    """
    from .sae import SAE

    layers = _layers(data)
    fits = [(layer, variable) for layer in layers for variable in variables]
    rows = {}
    for layer, variable in progress_bar(fits, desc="SAE per layer", progress=progress):
        sae = SAE(**{"progress": False, **sae_params, "variable": variable}).fit(layers[layer])
        loadings = sae.transform(layers[layer])
        stats = mode_labels(loadings, labels, threshold)
        alive = stats["max_correlation"].values[~sae.dead_modes_]
        rows[layer, variable] = (alive, sae.r2_)
    n_modes = max(len(alive) for alive, _ in rows.values())
    shape = (len(layers), len(variables))
    padded = np.full((*shape, n_modes), np.nan)
    r2 = np.empty(shape)
    for i, layer in enumerate(layers):
        for j, variable in enumerate(variables):
            alive, r2[i, j] = rows[layer, variable]
            padded[i, j, : len(alive)] = np.sort(alive)[::-1]
    with np.errstate(invalid="ignore"):
        above = (padded > threshold).sum(-1)
    return xr.Dataset(
        {
            "max_correlation": (("layer", "variable", "mode"), padded),
            "n_modes_above": (("layer", "variable"), above),
            "best_correlation": (("layer", "variable"), np.nanmax(padded, axis=-1)),
            "r2": (("layer", "variable"), r2),
        },
        coords={"layer": list(layers), "variable": list(variables)},
        attrs={"analysis": "mode_label_comparison", "threshold": threshold, "retinacodec_version": __version__},
    )


def channel_sign_correlation(data: xr.Dataset | xr.DataArray, variable: str = "contribution") -> xr.DataArray:
    """Correlation over samples between each channel's positive and negative contributions.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        Split-sign contributions (sample, channel, sign) with sign = ["neg", "pos"].
    variable : str
        Variable of a Dataset to use.

    Returns
    -------
    xarray.DataArray
        (channel,) Pearson r between ``pos`` and ``|neg|``: near 1 when a channel's excitatory
        and inhibitory contributions rise together (centre-surround-like), near 0 when they are
        decoupled; NaN for channels that are constant in either sign.
    """
    da = select_variable(data, variable)
    if SIGN_DIM not in da.dims or set(da[SIGN_DIM].values.tolist()) != {"neg", "pos"}:
        raise RetinaCodecError(
            f"data have dims {da.dims}; expected split-sign contributions (sample, channel, sign) "
            "with sign = ['neg', 'pos'] (compute them with split='sign')"
        )
    pos = as_feature_matrix(da.sel({SIGN_DIM: "pos"}, drop=True)).values.astype(np.float64)
    neg = np.abs(as_feature_matrix(da.sel({SIGN_DIM: "neg"}, drop=True)).values.astype(np.float64))
    a, b = pos - pos.mean(0), neg - neg.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(0) / np.sqrt(np.square(a).sum(0) * np.square(b).sum(0))
    channels = da.sel({SIGN_DIM: "pos"}, drop=True).isel({sample_dim(da): 0}, drop=True)
    return xr.DataArray(
        r,
        dims=channels.dims,
        coords=channels.coords,
        name="sign_correlation",
        attrs={"variable": variable, "retinacodec_version": __version__},
    )


def sign_correlation(data: xr.Dataset | Mapping[str, xr.Dataset], variable: str = "contribution") -> xr.Dataset:
    """Per-layer distribution of :func:`channel_sign_correlation` over channels.

    Parameters
    ----------
    data : xarray.Dataset or mapping of str to xarray.Dataset
        Split-sign contributions of one layer, or layer name -> Dataset.
    variable : str
        Variable to use.

    Returns
    -------
    xarray.Dataset
        ``correlation`` (layer, quantile): quantiles over the channels with a correlation;
        ``mean`` (layer); NaN for a layer where no channel has one (every channel's
        contributions of one sign, as under Dale's law). The paper reports coupling in early
        layers and decoupling with depth.
    """
    layers = _layers(data)
    quantiles, means = [], []
    for ds in layers.values():
        r = channel_sign_correlation(ds, variable).values
        r = r[np.isfinite(r)]
        quantiles.append(np.quantile(r, QUANTILES) if r.size else np.full(len(QUANTILES), np.nan))
        means.append(float(r.mean()) if r.size else np.nan)
    return xr.Dataset(
        {"correlation": (("layer", "quantile"), np.array(quantiles)), "mean": ("layer", means)},
        coords={"layer": list(layers), "quantile": list(QUANTILES)},
        attrs={"analysis": "sign_correlation", "variable": variable, "retinacodec_version": __version__},
    )


# ----------------------------------------------------------------------------- helpers
def _layers(data: xr.Dataset | Mapping[str, xr.Dataset]) -> dict[str, xr.Dataset]:
    if isinstance(data, xr.Dataset):
        return {str(data.attrs.get("layer", "layer")): data}
    if isinstance(data, Mapping) and data and all(isinstance(d, xr.Dataset) for d in data.values()):
        return {str(name): cast(xr.Dataset, ds) for name, ds in data.items()}  # checked just above
    raise RetinaCodecError(
        f"got {type(data).__name__}; expected a contributions Dataset or a non-empty mapping layer name -> Dataset"
    )


def net_values(data: xr.Dataset | xr.DataArray, variable: str) -> np.ndarray:
    """(sample, channel) values of ``variable``; split-sign data as the net ``|pos| - |neg|``."""
    da = select_variable(data, variable)
    if SIGN_DIM in da.dims:
        da = abs(da.sel({SIGN_DIM: "pos"}, drop=True)) - abs(da.sel({SIGN_DIM: "neg"}, drop=True))
    return as_feature_matrix(da).values.astype(np.float64)


def _per_layer_and_variable(data, variables: Sequence[str], measure) -> xr.Dataset:
    """Apply ``measure(values) -> {name: (dims, value)}`` to every layer and variable and stack
    the results along (layer, variable)."""
    layers = _layers(data)
    per_layer = []
    for ds in layers.values():
        per_variable = [xr.Dataset(measure(net_values(ds, variable))) for variable in variables]
        per_layer.append(xr.concat(per_variable, dim="variable"))
    result = xr.concat(per_layer, dim="layer")
    return result.assign_coords(layer=list(layers), variable=list(variables)).assign_attrs(
        retinacodec_version=__version__
    )
