"""How far a contributions result misses completeness (its contributions summing to the target's
change along the path), summarised over samples; one definition for every pipeline's report."""

from __future__ import annotations

import numpy as np
import xarray as xr


def completeness_summary(contributions: xr.Dataset) -> dict[str, float]:
    """Absolute and relative completeness error of a contributions Dataset over its samples.

    Parameters
    ----------
    contributions : xarray.Dataset
        Output of :func:`retinacodec.contributions`: ``completeness_error``, ``target_value``
        and ``baseline_value`` (sample), in the target's units (Hz for a cell, logits for a class).

    Returns
    -------
    dict
        ``max_error`` and ``median_error``: largest and median :math:`|e|` over samples, with
        :math:`e = \\sum C - (f(x) - f(x_0))`, in the target's units; ``median_relative_error``:
        the median over samples of :math:`|e| / |f(x) - f(x_0)|` (samples whose target does not
        change are left out; NaN if none changes).
    """
    error = np.abs(contributions["completeness_error"].values)
    span = np.abs(contributions["target_value"].values - contributions["baseline_value"].values)
    relative = error[span > 0] / span[span > 0]
    return {
        "max_error": float(error.max()),
        "median_error": float(np.median(error)),
        "median_relative_error": float(np.median(relative)) if relative.size else float("nan"),
    }
