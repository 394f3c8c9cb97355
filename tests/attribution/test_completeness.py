"""completeness_summary against hand-computed errors of a tiny contributions result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import retinacodec as rc
from retinacodec.attribution.completeness import completeness_summary
from retinacodec.attribution.options import AttributionOptions


def test_summary_of_hand_made_errors():
    """Sums 2.5, 1.0, 4.0 against changes 2, 1, 0: errors 0.5, 0, 4 (the last change is 0, so it is
    left out of the relative median: 0.5 / 2 and 0 / 1 -> median 0.125)."""
    import xarray as xr

    contribution = np.array([[1.5, 1.0], [0.5, 0.5], [3.0, 1.0]])
    target, baseline = np.array([3.0, 2.0, 1.0]), np.array([1.0, 1.0, 1.0])
    ds = xr.Dataset(
        {
            "contribution": (("sample", "channel"), contribution),
            "target_value": ("sample", target),
            "baseline_value": ("sample", baseline),
            "completeness_error": ("sample", contribution.sum(1) - (target - baseline)),
        }
    )
    summary = completeness_summary(ds)
    assert summary == pytest.approx({"max_error": 4.0, "median_error": 0.5, "median_relative_error": 0.125})


def test_a_linear_network_is_complete():
    """For a network linear after the layer, input-path contributions sum exactly to the change."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).eval()
    result = rc.contributions(
        model, torch.randn(5, 4), ["0"], target="top", n_steps=4, options=AttributionOptions(path="input")
    )["0"]
    summary = completeness_summary(result)
    assert summary["max_error"] < 1e-5 and summary["median_relative_error"] < 1e-5
