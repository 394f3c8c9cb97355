"""Rate changes per cell type and when they count: against hand computations."""

import numpy as np
import pytest
import xarray as xr

import retinacodec.hypotheses as hyp
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.effects import by_type, categories, changed, check_criterion, effect_z, type_counts


def test_a_block_of_inhibitory_outputs_keeps_the_rises_of_silencing_and_zeroes_the_falls():
    change = np.array([[-2.0, 0.0, 0.5], [3.0, -0.1, 1e-9]])
    np.testing.assert_array_equal(hyp.released_change(change), [[0.0, 0.0, 0.5], [3.0, 0.0, 1e-9]])


def per_cell(values, types=("on", "on", "off")):
    return xr.DataArray(np.asarray(values, dtype=float), dims="cell", coords={"cell_type": ("cell", list(types))})


def test_effect_z_is_the_change_over_the_poisson_standard_error_of_two_rate_estimates():
    change = xr.DataArray([3.0, 0.0, 2.0, -2.0], dims="cell")
    baseline = xr.DataArray([10.0, 5.0, 0.0, 1.0], dims="cell")
    z = effect_z(change, baseline, 60.0, n_cells=4).values
    assert z[0] == pytest.approx(3.0 / np.sqrt((10.0 + 13.0) / (60.0 * 4)))
    assert z[1] == 0.0  # no change
    assert z[2] == pytest.approx(2.0 / np.sqrt(2.0 / 240))  # from silence
    assert z[3] == np.inf  # to silence from a rate the change removes: no variance left


def test_categories_are_the_sign_of_each_types_mean_change_that_a_recording_would_see():
    baseline = per_cell([10.0, 10.0, 10.0])
    change = xr.DataArray(
        [[2.0, 4.0, -0.1], [0.0, 0.0, -3.0]],
        dims=("set", "cell"),
        coords={"cell_type": ("cell", ["on", "on", "off"])},
    )
    category = categories(change, baseline, 60.0, 2.0)
    assert list(category["type"].values) == ["on", "off"]  # types in first-seen order
    np.testing.assert_array_equal(category.values, [[1, 0], [0, -1]])  # 0.1 Hz on 10 Hz is not seen in 60 s
    np.testing.assert_array_equal(by_type(change).values, [[3.0, -0.1], [0.0, -3.0]])
    np.testing.assert_array_equal(type_counts(baseline).values, [2, 1])
    np.testing.assert_array_equal(changed(change, baseline, 60.0, 2.0).values, [[1, 1, 0], [0, 0, 1]])


def test_a_criterion_needs_a_positive_recording_and_a_non_negative_threshold():
    check_criterion(60.0, 0.0)
    with pytest.raises(RetinaCodecError, match=r"recording_s is 0; expected a finite number > 0 \(seconds\)"):
        check_criterion(0, 2.0)
    with pytest.raises(RetinaCodecError, match="z_min is inf; expected a finite number >= 0"):
        check_criterion(60.0, float("inf"))
    with pytest.raises(RetinaCodecError, match="no cell_type coord"):
        by_type(xr.DataArray([1.0], dims="cell"))
