"""The completeness scalars of a layer and the per-layer lines of a run's printed summary."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from retinacodec.pipelines.imagenet.common.statistics import COMPLETENESS, completeness, completeness_lines


def _contributions(errors, changes) -> xr.Dataset:
    target = np.asarray(changes, dtype=float) + 1.0
    return xr.Dataset(
        {
            "completeness_error": ("sample", np.asarray(errors, dtype=float)),
            "target_value": ("sample", target),
            "baseline_value": ("sample", np.ones_like(target)),
        }
    )


def test_completeness_scalars_are_medians_and_maximum_of_the_errors():
    stats = completeness(_contributions([0.1, -0.4, 0.2], [1.0, 2.0, -4.0]))
    assert set(stats.data_vars) == set(COMPLETENESS)
    assert float(stats["completeness_error_median"]) == pytest.approx(0.2)
    assert float(stats["completeness_error_max"]) == pytest.approx(0.4)
    assert float(stats["relative_completeness_error"]) == pytest.approx(0.1)  # median of 0.1, 0.2, 0.05


def test_completeness_lines_state_each_layer_from_a_record_or_a_summary():
    record = {
        "block3": dict(zip(COMPLETENESS, (0.12, 0.9, 0.031))),
        "head": dict(zip(COMPLETENESS, (2.0, 5.0, 0.25))),
    }
    lines = completeness_lines(record)
    assert lines == [
        "block3: completeness error median 0.12 (max 0.9) logit, median relative 3.1 %",
        "head: completeness error median 2 (max 5) logit, median relative 25.0 %",
    ]
    summary = xr.Dataset(
        {name: ("layer", [record[k][name] for k in record]) for name in COMPLETENESS},
        coords={"layer": pd.Index(list(record), name="layer")},
    )
    assert completeness_lines(summary) == lines
