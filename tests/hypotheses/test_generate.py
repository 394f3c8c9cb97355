"""Generating hypotheses end to end: predictions checked against retina_control and a forward pass by
hand, one hypothesis per pathway, inhibitory-output hypotheses, seeded shuffles, the effect filter,
provenance, combining layers and the errors of bad inputs."""

import copy
import dataclasses
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

import retinacodec.control.recorded as interventions
import retinacodec.hypotheses as hyp
from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.control.experiments import retina_control
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.match import drugs_for
from retinacodec.hypotheses.settings import HypothesisSettings
from retinacodec.models.registry import predict
from retinacodec.modes.workflow import fit_modes
from retinacodec.targets import Cell

from .helpers import dictionary, listed, records


def test_predicted_changes_are_what_retina_control_measures_when_ablating_the_same_channels(
    small_cnn, stimulus, retina
):
    for layer in ("bipolar", "amacrine"):
        settings = HypothesisSettings(n_shuffles=2, seed=5)
        result = hyp.generate(
            small_cnn, stimulus, dictionary(layer), layer, virtual_retina=retina, settings=settings, progress=False
        )
        blocks = list(zip(result["block"].values, result["blocked_outputs"].values))
        assert len(set(blocks)) == len(blocks)  # sets matched to one pathway are merged: one per pathway
        modes_sets = [{1, 3}, {0, 1}, {2}]  # each hypothesis's channels are a mode's set, or part of one
        assert all(any(set(listed(text)) <= own for own in modes_sets) for text in result["channels"])
        whole = hyp.generate(
            small_cnn,
            stimulus,
            dictionary(layer),
            layer,
            virtual_retina=retina,
            settings=HypothesisSettings(n_shuffles=0, split=False, trim=False),
            progress=False,
        )
        assert {str(c) for c in whole["channels"].values} <= {"1, 3", "0, 1", "2"}  # the modes' own sets
        assert (whole.attrs["split_by_pathway"], result.attrs["split_by_pathway"]) == (0, 1)
        assert (whole.attrs["trim_to_pathway"], result.attrs["trim_to_pathway"]) == (0, 1)
        sets = {f"{h}": listed(result["channels"].sel(hypothesis=h)) for h in result["hypothesis"].values}
        for k in range(2):
            for h in result["hypothesis"].values:
                sets[f"{h}/{k}"] = listed(result["shuffled_channels"].sel(shuffle=k, hypothesis=h))
        control = retina_control(small_cnn, stimulus, layer, sets, progress=False)
        measured = control["rate_change"].sel(intervention="ablate")
        for h in result["hypothesis"].values:
            # a block of the inhibitory outputs only keeps the rises of silencing (the cells inhibited)
            blocked = hyp.released_change if result["blocked_outputs"].sel(hypothesis=h) == "inhibitory" else np.asarray
            np.testing.assert_allclose(
                result["predicted_change"].sel(hypothesis=h),
                blocked(measured.sel(selection=h).values),
                rtol=1e-3,
                atol=1e-4,
            )
            for k in range(2):
                np.testing.assert_allclose(
                    result["shuffled_change"].sel(shuffle=k, hypothesis=h),
                    blocked(measured.sel(selection=f"{h}/{k}").values),
                    rtol=1e-3,
                    atol=1e-4,
                )
                assert len(sets[f"{h}/{k}"]) == len(sets[h])
        assert np.abs(result["predicted_change"]).max() > 0.01  # the comparison is not between zeros
        unperturbed = control["mean_rate"].sel(intervention="none").isel(selection=0)
        np.testing.assert_allclose(result["baseline_rate"], unperturbed, rtol=1e-4)


def test_inhibitory_hypotheses_name_an_inhibitory_pathway_and_predict_only_rises(small_cnn, stimulus, retina):
    kinds = {}
    for inhibitory in (True, False):  # a long recording makes the small model's effects visible
        kinds[inhibitory] = hyp.generate(
            small_cnn,
            stimulus,
            dictionary("bipolar"),
            "bipolar",
            virtual_retina=retina,
            settings=HypothesisSettings(n_shuffles=2, seed=5, recording_s=1e5, inhibitory=inhibitory),
            progress=False,
        )
    result, silencing = kinds[True], kinds[False]
    released = result.where(result["blocked_outputs"] == "inhibitory", drop=True)
    assert released.sizes["hypothesis"] >= 1  # the case is checked
    assert set(released["block"].values) <= {"amacrine_narrow", "amacrine_wide"}
    assert (released["predicted_change"] >= 0).all() and (released["shuffled_change"] >= 0).all()
    assert (released["predicted_change"] > 0).any()
    assert all(str(r).startswith("its outputs onto the cells it inhibits: ") for r in released["reason"].values)
    for block, drug in zip(released["block"].values, released["drug"].values):
        assert str(drug) == drugs_for(str(block), retina)[0]
    # the whole-set hypotheses are those without the inhibitory ones, first and unchanged
    assert set(silencing["blocked_outputs"].values) == {"all"}
    whole = result.isel(hypothesis=slice(0, silencing.sizes["hypothesis"]))
    assert set(whole["blocked_outputs"].values) == {"all"}
    np.testing.assert_array_equal(whole["channels"].values, silencing["channels"].values)
    np.testing.assert_allclose(whole["predicted_change"].values, silencing["predicted_change"].values)
    assert (result.attrs["inhibitory"], silencing.attrs["inhibitory"]) == (1, 0)
    boosted = hyp.generate(
        small_cnn,
        stimulus,
        dictionary("bipolar"),
        "bipolar",
        virtual_retina=retina,
        settings=HypothesisSettings(gain=2.0, n_shuffles=0, recording_s=1e5),
        progress=False,
    )
    assert set(boosted["blocked_outputs"].values) == {"all"}  # a gain scales whole channels


def test_same_seed_gives_the_same_shuffles_and_another_seed_other_ones(small_cnn, stimulus):
    # the random CNN's changes are too small to see in 60 s: keep every set
    kwargs = dict(progress=False, virtual_retina=None)
    settings = HypothesisSettings(n_shuffles=4, seed=1, require_effect=False)
    first = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", settings=settings, **kwargs)
    again = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", settings=settings, **kwargs)
    other = hyp.generate(
        small_cnn, stimulus, dictionary(), "bipolar", settings=dataclasses.replace(settings, seed=2), **kwargs
    )
    assert (first["shuffled_channels"].values == again["shuffled_channels"].values).all()
    assert (first["shuffled_channels"].values != other["shuffled_channels"].values).any()
    assert (first["block"].values == "").all() and np.isnan(first["match_r"].values).all()
    np.testing.assert_array_equal(first["confidence"].values, first["detectability"].values)
    unshuffled = dataclasses.replace(settings, n_shuffles=0)
    none = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", settings=unshuffled, **kwargs)
    assert none.sizes["shuffle"] == 0 and none["shuffled_change"].shape == (0, 3, small_cnn.n_cells)
    np.testing.assert_array_equal(none["predicted_change"].values, first["predicted_change"].values)


def test_a_set_whose_silencing_changes_no_cell_type_visibly_is_left_out_and_kept_when_it_is_the_only_one(
    small_cnn, stimulus, retina, monkeypatch
):
    """Planted: the amacrine convolution never reads bipolar channel 2, so silencing it changes nothing."""
    deaf = copy.deepcopy(small_cnn)
    with torch.no_grad():
        deaf.amacrine[0].weight[:, 2] = 0.0
    # the random CNN's changes are small (mHz): a long imagined recording makes them visible
    settings = HypothesisSettings(n_shuffles=0, split=False, trim=False, recording_s=1e6)
    options = dict(virtual_retina=retina, settings=settings, progress=False)
    kept = hyp.generate(deaf, stimulus, dictionary(), "bipolar", **options)
    every = hyp.generate(
        deaf,
        stimulus,
        dictionary(),
        "bipolar",
        **{**options, "settings": dataclasses.replace(settings, require_effect=False)},
    )
    assert "2" in list(every["channels"].values) and "2" not in list(kept["channels"].values)
    silent = every["channels"] == "2"
    assert (every["predicted_category"].where(silent, drop=True) == 0).all()
    np.testing.assert_allclose(every["predicted_change"].where(silent, drop=True), 0.0, atol=1e-5)
    assert (kept["predicted_category"] != 0).any("type").all()  # every hypothesis kept predicts a visible change
    assert (kept.attrs["require_effect"], every.attrs["require_effect"]) == (1, 0)
    silenced = []
    original = interventions._linear_mean_rates
    monkeypatch.setattr(interventions, "_linear_mean_rates", lambda *a, **k: silenced.extend(a[3]) or original(*a, **k))
    again = hyp.generate(deaf, stimulus, dictionary(), "bipolar", **options)
    assert len(silenced) == len(set(silenced))  # a set kept is silenced once, for the filter and the prediction
    np.testing.assert_array_equal(again["predicted_change"], kept["predicted_change"])
    only = xr.DataArray(np.array([[0.0, 0.0, 1.0, 0.0]]), dims=("mode", "channel"), attrs={"layer": "bipolar"})
    alone = hyp.generate(deaf, stimulus, only, "bipolar", **options)
    assert list(alone["channels"].values) == ["2"]  # no set has an effect: the layer still yields one


def test_boosting_instead_of_blocking_scales_the_channels_in_the_cnn(small_cnn, stimulus, retina):
    settings = HypothesisSettings(gain=2.0, n_shuffles=1)
    boosted = hyp.generate(
        small_cnn, stimulus, dictionary(), "bipolar", virtual_retina=retina, settings=settings, progress=False
    )
    assert boosted.attrs["intervention"] == "scale by 2" and (boosted["drug"].values == "").all()
    # doubling channels of the bipolar output = doubling their input weights in the next (linear) convolution
    for h in boosted["hypothesis"].values:
        twice = copy.deepcopy(small_cnn)
        with torch.no_grad():
            twice.amacrine[0].weight[:, listed(boosted["channels"].sel(hypothesis=h))] *= 2.0
        expected = predict(twice, stimulus).mean("time") - predict(small_cnn, stimulus).mean("time")
        np.testing.assert_allclose(boosted["predicted_change"].sel(hypothesis=h), expected, rtol=1e-3, atol=1e-4)
    assert boosted.attrs["gain"] == 2.0 and set(boosted["blocked_outputs"].values) == {"all"}


def test_hypotheses_record_what_the_modes_decompose(small_cnn, stimulus):
    data = contributions(
        small_cnn,
        stimulus.isel(time=slice(0, 20)),
        "amacrine",
        [Cell(i) for i in range(4)],
        n_steps=2,
        options=AttributionOptions(split="sign", activation="cell", progress=False),
    )
    for variable in ("contribution", "activation"):
        _, modes = fit_modes(
            data, labels="cell_type", variable=variable, n_modes=3, epochs=2, batch_size=8, progress=False
        )
        settings = HypothesisSettings(n_shuffles=0)
        result = hyp.generate(
            small_cnn, stimulus, modes, "amacrine", virtual_retina=None, settings=settings, progress=False
        )
        assert result.attrs["modes_variable"] == variable


def test_layers_matched_to_different_pathways_combine_without_warnings_and_leave_the_rest_empty():
    first = records(predicted=[[1, 0, 0]], observed=[[1, 0, 0]], confidence=[0.5], shuffled=[[[0, 0, 0]]])
    second = first.assign_coords(hypothesis=["h1"])
    first = first.assign(match=(("hypothesis", "pathway"), [[0.2, 0.4]])).assign_coords(pathway=["a", "b"])
    second = second.assign(match=(("hypothesis", "pathway"), [[0.7]])).assign_coords(pathway=["b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        joined = hyp.combine([first, second])
    assert list(joined["pathway"].values) == ["a", "b"] and list(joined["hypothesis"].values) == ["h0", "h1"]
    np.testing.assert_array_equal(joined["match"].values, [[0.2, 0.4], [np.nan, 0.7]])


def test_bad_inputs_raise_one_clear_error(small_cnn, stimulus):
    with pytest.raises(RetinaCodecError, match="unknown layer 'retina9'"):
        hyp.generate(small_cnn, stimulus, dictionary("retina9"), "retina9", progress=False)
    with pytest.raises(RetinaCodecError, match="fitted on layer 'amacrine', not 'bipolar'"):
        hyp.generate(small_cnn, stimulus, dictionary("amacrine"), "bipolar", progress=False)
    with pytest.raises(RetinaCodecError, match="the modes have 5 channels"):
        wide = xr.DataArray(np.ones((2, 5)), dims=("mode", "channel"), attrs={"layer": "bipolar"})
        hyp.generate(small_cnn, stimulus, wide, "bipolar", progress=False)
    with pytest.raises(RetinaCodecError, match="every mode is dead or empty"):
        dead = xr.DataArray(np.zeros((2, 4)), dims=("mode", "channel"), attrs={"layer": "bipolar"})
        hyp.generate(small_cnn, stimulus, dead, "bipolar", progress=False)


def test_generate_shares_the_callers_pass_cache_and_keeps_none_of_its_own(small_cnn, stimulus, retina, monkeypatch):
    """Two calls with one cache (as the demo's two kinds of modes) run each pass once; without a cache
    every call runs its own, and the results are the same either way."""
    settings = HypothesisSettings(n_shuffles=2, seed=5)
    options = dict(virtual_retina=retina, settings=settings, progress=False)
    alone = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", **options)
    calls = {"record": 0, "sets": 0}
    record, linear = interventions._record_layer, interventions._linear_mean_rates

    def counted_record(*args, **kwargs):
        calls["record"] += 1
        return record(*args, **kwargs)

    def counted_linear(*args, **kwargs):
        calls["sets"] += len(args[3])
        return linear(*args, **kwargs)

    monkeypatch.setattr(interventions, "_record_layer", counted_record)
    monkeypatch.setattr(interventions, "_linear_mean_rates", counted_linear)
    with interventions.PassCache() as cache:
        first = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", cache=cache, **options)
        once = dict(calls)
        again = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", cache=cache, **options)
    assert calls == once and once["record"] == 1 and once["sets"] > 0  # the second call ran no pass
    xr.testing.assert_identical(first, alone)
    xr.testing.assert_identical(again, alone)
    assert len(cache) == 0 and cache.closed
    hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", **options)  # its own cache: the passes again
    assert calls["record"] == 2 and calls["sets"] == 2 * once["sets"]
