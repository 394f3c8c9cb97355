"""One call from a contributions Dataset to a modes result: what ``retinacodec modes`` runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

import numpy as np
import xarray as xr
from sklearn.base import clone

from .._validation import check_int
from ..errors import RetinaCodecError
from .compare import dimensions_for_variance, hoyer, mode_labels, net_values
from .sae import SAE
from .seed_stability import fit_stability


def fit_modes(
    contributions: xr.Dataset,
    *,
    labels: str | Sequence | None = None,
    label_threshold: float = 0.2,
    stability_fits: int = 2,
    **sae_params,
) -> tuple[SAE, xr.Dataset]:
    """Fit an SAE to a contributions Dataset and collect modes, loadings and statistics.

    Parameters
    ----------
    contributions : xarray.Dataset
        Output of ``retinacodec.contributions``: ``contribution`` and ``activation``
        (sample, channel[, sign]) with provenance attrs.
    labels : str, sequence or None
        Sample coord name (e.g. ``"cell_type"``, ``"label"``) or one label per sample; when
        given, the result also holds the mode-label correlations of :func:`mode_labels`.
    label_threshold : float
        Correlation above which a mode counts as label-specific.
    stability_fits : int
        Extra fits, with seeds ``seed + 1``, ..., ``seed + stability_fits``, against which the
        stability of each mode is scored (:func:`~retinacodec.modes.seed_stability.fit_stability`);
        0 skips them (each costs one more fit).
    **sae_params
        Parameters of :class:`~retinacodec.modes.sae.SAE` (``variable`` picks the variable,
        ``"contribution"`` by default).

    Returns
    -------
    sae : SAE
        The fitted estimator (``sae.save(path)`` keeps it).
    result : xarray.Dataset
        ``modes`` (mode, channel or feature), ``loadings`` (sample, mode), ``mode_usage``
        (mode, fraction of samples where the mode is active), ``dead_modes`` (mode),
        ``history`` (period); scalars ``r2``, ``mean_l0``, ``hoyer_mean`` (mean Hoyer sparsity
        of the input over channels) and ``n_dimensions_95`` (PCA dimensions for 95 % of the
        variance); with ``stability_fits`` also ``stability`` (mode: matched cosine with the
        other seeds' modes, averaged over them; NaN for dead modes) and ``mean_stability`` (its
        mean over live modes; attr ``stability_seeds``); with ``labels`` also ``label_correlation`` (mode, label),
        ``max_label_correlation`` and ``best_label`` (mode) and ``n_modes_above``. Attrs carry
        the input's provenance, the SAE parameters and the package version.
    """
    if not isinstance(contributions, xr.Dataset):
        raise RetinaCodecError(
            f"got {type(contributions).__name__}; expected a contributions Dataset "
            "(read it with retinacodec.io.read_netcdf)"
        )
    stability_fits = check_int("stability_fits", stability_fits, minimum=0)
    sae = SAE(**sae_params).fit(contributions)
    loadings = cast(xr.DataArray, sae.transform(contributions))  # labeled input, labeled loadings
    inputs = net_values(contributions, sae.variable)
    result = xr.Dataset(
        {
            "modes": sae.modes_,
            "loadings": loadings,
            "mode_usage": ("mode", (loadings.values > 0).mean(0)),
            "dead_modes": ("mode", sae.dead_modes_.astype(np.int8)),
            "history": ("period", sae.history_),
            "r2": sae.r2_,
            "mean_l0": sae.l0_,
            "hoyer_mean": float(np.nanmean(hoyer(inputs, axis=1))),
            "n_dimensions_95": dimensions_for_variance(inputs, 0.95),
        },
        attrs=dict(sae.modes_.attrs),
    )
    if stability_fits:
        seeds = [sae.seed + offset for offset in range(1, stability_fits + 1)]
        others = [clone(sae).set_params(seed=seed).fit(contributions) for seed in seeds]
        result["stability"] = ("mode", fit_stability(sae, others))
        result["mean_stability"] = float(np.nanmean(result["stability"].values))
        result.attrs["stability_seeds"] = json.dumps(seeds)
    if labels is not None:
        stats = mode_labels(loadings, labels, label_threshold)
        result["label_correlation"] = stats["correlation"]
        result["max_label_correlation"] = stats["max_correlation"]
        result["best_label"] = stats["best_label"]
        result["n_modes_above"] = stats["n_modes_above"]
        result.attrs["label_threshold"] = label_threshold
    return sae, result
