"""Scoring and testing hypotheses: scores against hand computations, and the test against the
virtual retina's own wiring, its blocks run once per pass cache."""

import numpy as np
import pytest
import xarray as xr

import retinacodec.hypotheses as hyp
from retinacodec.control.recorded import PassCache
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.score import retina_mean_rate
from retinacodec.models.virtual_retina import VirtualRetina
from retinacodec.stimuli import natural_jitter

from .helpers import records


def test_recovery_score_of_hand_made_records_is_the_hand_computed_value():
    # type order (on, off, oms); 3 Hz on 10 Hz over 4 cells is 9.9 standard errors, 0 is none
    tested = records(
        predicted=[[-3, 3, 0], [0, 0, 3], [0, 0, 0]],
        observed=[[-3, 0, 0], [0, 0, 3], [0, -3, 0]],
        confidence=[0.5, 0.8, 0.2],
        shuffled=[[[3, 0, 0], [-3, 0, 3], [0, -3, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]],
    )
    scored = hyp.score(tested)
    # h0: types changed {on-, off+} vs {on-}: 1 right of 2; h1: {oms+} both: 1; h2: {} vs {off-}: 0
    np.testing.assert_allclose(scored["type_agreement"], [0.5, 1.0, 0.0])
    # (right, side effect, missed, wrong sign): h0 on right and off predicted only; h1 oms right; h2 off missed
    assert list(scored["error"].values) == ["right", "side effect", "missed", "wrong sign"]
    np.testing.assert_array_equal(scored["type_errors"], [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    flipped = hyp.score(records(predicted=[[3, 0, 0]], observed=[[-3, 0, 0]], confidence=[1.0], shuffled=[[[0, 0, 0]]]))
    np.testing.assert_array_equal(flipped["type_errors"], [[0, 0, 0, 1]])
    np.testing.assert_allclose(
        scored["type_agreement"],  # agreement is right over all four kinds
        scored["type_errors"].sel(error="right") / scored["type_errors"].sum("error"),
    )
    assert list(scored["outcome"].values) == ["partly confirmed", "confirmed", "refuted"]
    assert float(scored["recovery_score"]) == pytest.approx((0.5 * 0.5 + 0.8 * 1.0 + 0.2 * 0.0) / 1.5)
    # shuffle 0: h0 {on+} vs {on-}: 0; h1 {on-, oms+} vs {oms+}: 1/2; h2 {off-}: 1 -> (0.4 + 0.2) / 1.5
    np.testing.assert_allclose(scored["shuffled_agreement"], [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(scored["recovery_score_each_shuffle"], [0.6 / 1.5, 0.0])
    assert float(scored["recovery_score_shuffled"]) == pytest.approx(0.2)
    # per cell: h1 predicts exactly the four OMS cells that changed, with the right sign
    assert float(scored["sign_agreement"].sel(hypothesis="h1")) == 1.0
    assert float(scored["auroc"].sel(hypothesis="h1")) == 1.0
    # h0: |predicted| 3 Hz for the 4 ON (changed) and 4 OFF cells, 0 for OMS: 16 wins and 16 ties of 32 pairs
    assert float(scored["auroc"].sel(hypothesis="h0")) == 0.75
    # signs of the changed cells: right for h0 and h1, a predicted 0 for h2's OFF cells is not their sign
    np.testing.assert_array_equal(scored["sign_agreement"], [1.0, 1.0, 0.0])
    weighted = scored["weighted_score"]
    assert float(weighted.sel(measure="type_agreement", selection="modes")) == pytest.approx(1.05 / 1.5)
    assert float(weighted.sel(measure="type_agreement", selection="shuffled")) == pytest.approx(0.2)
    assert float(weighted.sel(measure="sign_agreement", selection="modes")) == pytest.approx(1.3 / 1.5)


def test_type_agreement_counts_no_predicted_and_no_observed_change_as_right_and_small_changes_as_none():
    nothing = records(predicted=[[0.2, 0, 0]], observed=[[0, 0.3, 0]], confidence=[1.0], shuffled=[[[0, 0, 0]]])
    # 0.2 and 0.3 Hz on 10 Hz over 4 cells: below 2 standard errors (0.58 Hz) in 60 s
    scored = hyp.score(nothing)
    assert scored["type_agreement"].values.tolist() == [1.0]
    assert str(scored["outcome"].values[0]) == "confirmed (no change)"
    assert (scored["observed_category"].values == 0).all()
    assert np.isnan(float(hyp.recovery_score(scored["type_agreement"], xr.zeros_like(scored["confidence"]))))


def test_blocking_the_wide_field_amacrine_in_the_virtual_retina_confirms_what_its_wiring_predicts(retina):
    stimulus = natural_jitter(n_frames=900, seed=31, progress=False)
    cell_type = np.asarray(retina.cells["cell_type"].values)
    types = tuple(dict.fromkeys(cell_type))
    fed = retina.cells_fed_by("amacrine_wide").values
    reached = {str(t) for t in cell_type[fed]}
    assert reached == {"oms", "on_off"}  # directly, and through the transient bipolar terminals
    # both connections inhibit, so blocking them should raise the rates of the cells they reach
    up = np.array([1.0 if t in reached else 0.0 for t in types])
    hand = records(
        predicted=[up],
        observed=[np.zeros(len(types))],
        confidence=[0.9],
        shuffled=[[-up], [np.roll(up, 1) * -2]],
        types=types,
        per_type=5,
    )
    tested = hyp.test(hand.drop_vars(["observed_change", "observed_baseline_rate"]), retina, stimulus, progress=False)
    np.testing.assert_array_equal(tested["observed_change"].values[0, ~fed], 0.0)  # not reached: no change at all
    assert (tested["observed_change"].values[0, cell_type == "oms"] > 0).all()
    assert tested["observed_category"].isel(hypothesis=0).to_series().to_dict() == {t: int(t in reached) for t in types}
    assert tested["type_agreement"].values.tolist() == [1.0] and tested["sign_agreement"].values.tolist() == [1.0]
    assert float(tested["recovery_score"]) == 1.0
    assert float(tested["recovery_score_shuffled"]) < 0.5


def test_boosting_the_wide_field_amacrine_in_the_virtual_retina_lowers_the_cells_it_reaches(retina):
    types = tuple(dict.fromkeys(str(t) for t in retina.cells["cell_type"].values))
    down = np.array([-1.0 if t in ("oms", "on_off") else 0.0 for t in types])
    hand = records(
        predicted=[down], observed=[down], confidence=[1.0], shuffled=[[-down]], types=types, per_type=5
    ).drop_vars(["observed_change", "observed_baseline_rate"])
    tested = hyp.test(
        hand.assign_attrs(gain=2.0), retina, natural_jitter(n_frames=900, seed=31, progress=False), progress=False
    )
    assert int(tested["observed_category"].isel(hypothesis=0).sel(type="oms")) == -1
    assert "scaled by 2" in tested.attrs["test"] and float(tested["recovery_score"]) == 1.0


def test_bad_inputs_raise_one_clear_error(retina, stimulus):
    unmatched = records(predicted=[[1, 0, 0]], observed=[[1, 0, 0]], confidence=[0.5], shuffled=[[[0, 0, 0]]])
    with pytest.raises(RetinaCodecError, match="name no pathway"):
        hyp.test(unmatched.assign(block=("hypothesis", [""])), retina, stimulus, progress=False)
    with pytest.raises(RetinaCodecError, match="kind = 'hypotheses'"):
        hyp.test(xr.Dataset(), retina, stimulus, progress=False)
    with pytest.raises(RetinaCodecError, match="not the hypotheses' cells"):
        hyp.test(unmatched, retina, stimulus, progress=False)  # hand-made cell types, not the retina's
    other = VirtualRetina.from_dict({"cells": {"on": [[25, 25]]}})
    with pytest.raises(RetinaCodecError, match="not the hypotheses' cells"):
        hyp.test(unmatched, other, stimulus, progress=False)
    with pytest.raises(RetinaCodecError, match="run test"):
        hyp.score(unmatched.drop_vars("observed_change"))


def test_the_virtual_retinas_blocks_run_once_per_pass_cache_and_give_the_direct_rates(retina, stimulus, monkeypatch):
    direct = retina.respond(stimulus, block="amacrine_wide")["rate"].values[7:].mean(axis=0)
    calls = []
    respond = retina.respond
    monkeypatch.setattr(retina, "respond", lambda *a, **k: calls.append(k) or respond(*a, **k))
    with PassCache() as cache:
        first = retina_mean_rate(retina, stimulus, "amacrine_wide", first=7, cache=cache)
        again = retina_mean_rate(retina, stimulus.copy(deep=True), "amacrine_wide", first=7, cache=cache)
        retina_mean_rate(retina, stimulus, None, first=7, cache=cache)
    np.testing.assert_array_equal(first, direct)
    assert again is first and calls == [{"block": "amacrine_wide"}, {}]
    retina_mean_rate(retina, stimulus, "amacrine_wide", first=7)  # without a cache: run again
    assert len(calls) == 3
