"""Pathway coverage of tested hypotheses, against counts by hand."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.coverage import pathway_coverage


def hand_tested(blocks, outcomes, agreement):
    return xr.Dataset(
        {
            "block": ("hypothesis", blocks),
            "outcome": ("hypothesis", outcomes),
            "type_agreement": ("hypothesis", agreement),
        },
        attrs={"kind": "hypotheses"},
    )


def test_coverage_counts_the_hypotheses_and_confirmations_of_each_pathway():
    hand = hand_tested(
        ["amacrine_wide", "amacrine_wide", "bipolar_on_sustained", "amacrine_narrow"],
        ["refuted", "confirmed", "confirmed (no change)", "partly confirmed"],
        [0.0, 1.0, 1.0, 0.5],
    )
    pathways = ["bipolar_on_sustained", "amacrine_narrow", "amacrine_wide", "bipolar_off_sustained"]
    coverage = pathway_coverage(hand, pathways)
    assert list(coverage["pathway"].values) == pathways
    assert list(coverage["name"].values) == [
        "ON sustained bipolar",
        "narrow-field amacrine",
        "wide-field amacrine",
        "OFF sustained bipolar",
    ]
    np.testing.assert_array_equal(coverage["n_hypotheses"], [1, 1, 2, 0])
    # "confirmed (no change)" shows no effect of the pathway: it does not count
    np.testing.assert_array_equal(coverage["n_confirmed"], [0, 0, 1, 0])
    np.testing.assert_array_equal(coverage["covered"], [False, False, True, False])
    np.testing.assert_array_equal(coverage["best_agreement"], [1.0, 0.5, 1.0, np.nan])
    assert coverage.attrs == {"n_covered": 1, "n_pathways": 4}


def test_coverage_refuses_untested_hypotheses():
    with pytest.raises(RetinaCodecError, match="lack outcome, type_agreement"):
        pathway_coverage(hand_tested(["a"], ["confirmed"], [1.0]).drop_vars(["outcome", "type_agreement"]), ["a"])
