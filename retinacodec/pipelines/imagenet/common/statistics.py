"""One layer's contributions against its activations (the seed's table): sparsity, PCA
dimensions, SAE fit and seed stability, mode-class correlations, the coupling of positive and
negative parts, and the completeness of the contributions. Shared by both ImageNet analyses."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ....attribution.completeness import completeness_summary
from ....modes.compare import VARIABLES, pca_dimensions, sign_correlation, sparsity

COMPLETENESS = ("completeness_error_median", "completeness_error_max", "relative_completeness_error")
"""The completeness scalars of :func:`completeness`, per layer in every ImageNet run's record."""


def layer_statistics(data: xr.Dataset, fits: dict[str, xr.Dataset]) -> xr.Dataset:
    """Contributions against activations in one layer, along ``variable``.

    Parameters
    ----------
    data : xarray.Dataset
        The layer's contributions (sample, channel, sign), with ``completeness_error``,
        ``target_value`` and ``baseline_value`` (sample).
    fits : dict of str to xarray.Dataset
        Per variable (contribution, activation) the result of
        :func:`~retinacodec.modes.workflow.fit_modes` with labels.

    Returns
    -------
    xarray.Dataset
        Hoyer sparsity (quantiles over samples) and ``hoyer_mean``, PCA ``n_dimensions`` for 95 %
        of the variance; SAE ``r2`` and ``mean_l0``; ``max_correlation`` (variable, mode; NaN for
        dead modes, and where the other variable has more modes) and its maximum
        ``best_correlation``; ``n_modes_above`` the threshold; ``n_dead_modes``; ``sign_coupling``,
        the mean correlation over channels of a channel's positive and negative parts (high =
        coupled); ``mean_stability``, the modes' seed stability (NaN without stability fits);
        and the scalars of :func:`completeness`.
    """
    stats = xr.merge([sparsity(data), pca_dimensions(data)]).isel(layer=0, drop=True)
    per_variable = xr.concat(
        [
            xr.Dataset(
                {
                    "r2": fits[v]["r2"],
                    "mean_l0": fits[v]["mean_l0"],
                    "n_modes_above": fits[v]["n_modes_above"],
                    "max_correlation": fits[v]["max_label_correlation"].where(fits[v]["dead_modes"] == 0),
                    "n_dead_modes": fits[v]["dead_modes"].sum(),
                    "sign_coupling": sign_correlation(data, v)["mean"].isel(layer=0, drop=True),
                    "mean_stability": fits[v].get("mean_stability", xr.DataArray(np.nan)),
                }
            )
            for v in VARIABLES
        ],
        dim=pd.Index(list(VARIABLES), name="variable"),
        join="outer",
    )
    per_variable["best_correlation"] = per_variable["max_correlation"].max("mode")
    return xr.merge([stats, per_variable, completeness(data)], combine_attrs="drop_conflicts")


def completeness(data: xr.Dataset) -> xr.Dataset:
    """The layer's :func:`~retinacodec.attribution.completeness.completeness_summary` as scalars
    (logits): ``completeness_error_max``, ``completeness_error_median`` and
    ``relative_completeness_error`` (median over samples of the error over the target's change)."""
    summary = completeness_summary(data)
    return xr.Dataset(
        {
            "completeness_error_max": summary["max_error"],
            "completeness_error_median": summary["median_error"],
            "relative_completeness_error": summary["median_relative_error"],
        }
    )


def completeness_lines(per_layer: Mapping[str, Mapping[str, float]] | xr.Dataset) -> list[str]:
    """One line per layer stating its completeness error, for a run's printed summary.

    Parameters
    ----------
    per_layer : mapping or xarray.Dataset
        Layer -> the :data:`COMPLETENESS` scalars (logits; the relative error a fraction), or a
        summary Dataset holding them along ``layer``.

    Returns
    -------
    list of str
        ``"<layer>: completeness error median <e> (max <e>) logit, median relative <r> %"``.
    """
    if isinstance(per_layer, xr.Dataset):
        per_layer = {
            str(layer): {name: float(per_layer[name].sel(layer=layer)) for name in COMPLETENESS}
            for layer in per_layer["layer"].values
        }
    return [
        f"{layer}: completeness error median {v['completeness_error_median']:.2g} "
        f"(max {v['completeness_error_max']:.2g}) logit, median relative {100 * v['relative_completeness_error']:.1f} %"
        for layer, v in per_layer.items()
    ]
