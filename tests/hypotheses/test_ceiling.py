"""The ceiling of the recovery score: every small channel set checked with retina_control and the
virtual retina's blocks, computed without the ceiling's code."""

import dataclasses

import numpy as np
import pytest
import xarray as xr

import retinacodec.control.recorded as recorded
from retinacodec.control.experiments import retina_control
from retinacodec.control.recorded import record_layer
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.ceiling import RELEASED, named_ceiling, pathway_ceiling
from retinacodec.hypotheses.effects import categories
from retinacodec.hypotheses.match import PathwayMatch
from retinacodec.hypotheses.score import type_agreement
from retinacodec.hypotheses.settings import HypothesisSettings
from retinacodec.stimuli import natural_jitter


def _single_channel_agreement(model, stimulus, retina, layer, pathways, recording_s=600.0, released=False):
    """(channel, pathway) type agreement of silencing each channel alone (retina_control), or with
    ``released`` of blocking its inhibitory outputs only (the rises of silencing kept), with each
    pathway's block in the virtual retina (respond), computed without the ceiling's code."""
    sets = {str(c): [c] for c in range(4)}
    control = retina_control(model, stimulus, layer, sets, progress=False)
    cell_coords = {"cell_type": ("cell", control["cell_type"].values)}
    baseline = xr.DataArray(
        control["mean_rate"].sel(intervention="none").isel(selection=0).values, dims="cell", coords=cell_coords
    )
    change = control["rate_change"].sel(intervention="ablate").values
    change = xr.DataArray(np.maximum(change, 0.0) if released else change, dims=("set", "cell"), coords=cell_coords)
    predicted = categories(change, baseline, recording_s, 2.0)
    first = model.history - 1
    truth = retina.respond(stimulus)["rate"].values[first:].mean(axis=0)
    rows = []
    for pathway in pathways:
        blocked = retina.respond(stimulus, block=pathway)["rate"].values[first:].mean(axis=0) - truth
        observed = categories(
            xr.DataArray(blocked, dims="cell", coords=cell_coords),
            xr.DataArray(truth, dims="cell", coords=cell_coords),
            recording_s,
            2.0,
        )
        rows.append(type_agreement(predicted, observed).values)
    return np.stack(rows, axis=1)


def test_ceiling_is_the_best_agreement_of_any_single_channel_checked_with_retina_control(small_cnn, stimulus, retina):
    settings = HypothesisSettings(recording_s=600.0, inhibitory=False)
    ceiling = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, max_size=1, settings=settings)
    assert list(ceiling["pathway"].values) == list(retina.pathways)
    pathways = ["bipolar_off_sustained", "amacrine_wide"]
    expected = _single_channel_agreement(small_cnn, stimulus, retina, "amacrine", pathways).max(axis=0)
    np.testing.assert_allclose(ceiling["ceiling"].sel(pathway=pathways).values, expected)
    assert ceiling.attrs["mean_ceiling"] == pytest.approx(float(ceiling["ceiling"].mean()))
    assert "match_agreement" not in ceiling  # no match stimulus, no match


def test_the_match_over_every_set_takes_the_closest_following_channel_of_either_layer(small_cnn, stimulus, retina):
    match = natural_jitter(n_frames=80, seed=23, progress=False)
    layers = ["bipolar", "amacrine"]
    settings = HypothesisSettings(recording_s=600.0, match="partial")
    ceiling = pathway_ceiling(small_cnn, stimulus, layers, retina, 1, match_stimulus=match, settings=settings)
    pathways = [str(p) for p in ceiling["pathway"].values]
    values, agreement = [], []
    for layer in layers:
        matched = PathwayMatch.of(record_layer(small_cnn, match, layer, 50), retina)
        values.append(matched.partial([(c,) for c in range(4)])[:, [matched.pathways.index(p) for p in pathways]])
        agreement.append(_single_channel_agreement(small_cnn, stimulus, retina, layer, pathways))
    values, agreement = np.stack(values), np.stack(agreement)  # (layer, channel, pathway)
    for k, pathway in enumerate(pathways):
        layer, channel = np.unravel_index(np.argmax(values[:, :, k]), values.shape[:2])
        row = ceiling.sel(pathway=pathway)
        assert (str(row["match_layer"].values), str(row["match_channels"].values)) == (layers[layer], str(channel))
        assert float(row["match_value"]) == pytest.approx(values[layer, channel, k])
        assert float(row["match_agreement"]) == pytest.approx(agreement[layer, channel, k])
    assert (ceiling["match_agreement"] <= ceiling["ceiling"]).all()
    assert ceiling.attrs["mean_match_agreement"] == pytest.approx(float(ceiling["match_agreement"].mean()))
    assert ceiling.attrs["match_rule"] == "partial"


def test_the_assigned_ceiling_takes_only_the_sets_the_match_assigns_each_pathway(small_cnn, stimulus, retina):
    match = natural_jitter(n_frames=80, seed=23, progress=False)
    layers = ["bipolar", "amacrine"]
    settings = HypothesisSettings(recording_s=600.0, inhibitory=False)
    ceiling = pathway_ceiling(small_cnn, stimulus, layers, retina, 1, match_stimulus=match, settings=settings)
    pathways = [str(p) for p in ceiling["pathway"].values]
    best = {p: (-1.0, "", "") for p in pathways}
    for layer in layers:
        matched = PathwayMatch.of(record_layer(small_cnn, match, layer, 50), retina)
        values = matched.block([(c,) for c in range(4)])[:, [matched.pathways.index(p) for p in pathways]]
        agreement = _single_channel_agreement(small_cnn, stimulus, retina, layer, pathways)
        for channel, column in enumerate(values.argmax(axis=1)):  # the pathway each channel is assigned
            pathway = pathways[column]
            if agreement[channel, column] > best[pathway][0]:
                best[pathway] = (agreement[channel, column], layer, str(channel))
    for pathway, (agreement, layer, channels) in best.items():
        row = ceiling.sel(pathway=pathway)
        if not layer:  # no channel of either layer is assigned this pathway
            assert np.isnan(float(row["assigned_ceiling"])) and str(row["assigned_channels"].values) == ""
            continue
        assert float(row["assigned_ceiling"]) == pytest.approx(agreement)
        assert (str(row["assigned_layer"].values), str(row["assigned_channels"].values)) == (layer, channels)
    assert any(not layer for _, layer, _ in best.values())  # some pathway is left unassigned: that case is checked
    assert (ceiling["assigned_ceiling"].fillna(0) <= ceiling["ceiling"]).all()
    assert ceiling.attrs["n_confirmable"] == int((ceiling["ceiling"] >= 1).sum())
    assert ceiling.attrs["n_confirmable_assigned"] == sum(agreement >= 1 for agreement, _, _ in best.values())
    assert ceiling.attrs["n_confirmable_assigned"] <= ceiling.attrs["n_confirmable"]


def test_an_inhibitory_pathways_ceiling_also_tries_blocking_each_sets_inhibitory_outputs(small_cnn, stimulus, retina):
    match = natural_jitter(n_frames=80, seed=23, progress=False)  # a long recording: the small model's effects count
    settings = HypothesisSettings(recording_s=1e4)
    both = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, 1, match_stimulus=match, settings=settings)
    silencing = pathway_ceiling(
        small_cnn,
        stimulus,
        ["amacrine"],
        retina,
        1,
        match_stimulus=match,
        settings=dataclasses.replace(settings, inhibitory=False),
    )
    pathways = [str(p) for p in both["pathway"].values]
    inhibitory = ["amacrine_narrow", "amacrine_wide"]
    silenced = _single_channel_agreement(small_cnn, stimulus, retina, "amacrine", pathways, 1e4)
    released = _single_channel_agreement(small_cnn, stimulus, retina, "amacrine", pathways, 1e4, released=True)
    for k, pathway in enumerate(pathways):
        row = both.sel(pathway=pathway)
        if pathway not in inhibitory:  # an excitatory pathway is stood for by silencing only
            assert float(row["ceiling"]) == float(silencing["ceiling"].sel(pathway=pathway))
            continue
        assert float(row["ceiling"]) == pytest.approx(max(silenced[:, k].max(), released[:, k].max()))
        channels = str(row["ceiling_channels"].values)
        assert channels.endswith(RELEASED) == (released[:, k].max() > silenced[:, k].max())
    # a release is assigned the inhibitory pathway it follows most closely, when on its route
    matched = PathwayMatch.of(record_layer(small_cnn, match, "amacrine", 50), retina)
    values = matched.block([(c,) for c in range(4)])[:, [matched.pathways.index(p) for p in inhibitory]]
    own = matched.block([(c,) for c in range(4)]).argmax(axis=1)  # the pathway each channel follows most closely
    on_route = [matched.pathways.index(inhibitory[values[c].argmax()]) in matched.silenced[own[c]] for c in range(4)]
    for column, pathway in enumerate(inhibitory):
        k = pathways.index(pathway)
        silenced_best = float(silencing["assigned_ceiling"].sel(pathway=pathway))
        pool = [released[c, k] for c in range(4) if values[c].argmax() == column and on_route[c]]
        pool += [] if np.isnan(silenced_best) else [silenced_best]
        expected = max(pool) if pool else np.nan  # NaN: neither form of any channel is assigned the pathway
        np.testing.assert_allclose(float(both["assigned_ceiling"].sel(pathway=pathway)), expected)
    np.testing.assert_array_equal(both["match_channels"].values, silencing["match_channels"].values)
    assert (both["ceiling"] >= silencing["ceiling"]).all()
    assert both.attrs["n_confirmable"] >= silencing.attrs["n_confirmable"]
    assert (both.attrs["inhibitory"], silencing.attrs["inhibitory"]) == (1, 0)
    assert any(
        float(both["ceiling"].sel(pathway=p)) > float(silencing["ceiling"].sel(pathway=p)) for p in inhibitory
    )  # the release reaches what silencing does not: the case is checked


def test_the_ceiling_per_layer_is_each_layers_own_ceiling_and_the_overall_one_their_maximum(
    small_cnn, stimulus, retina
):
    settings = HypothesisSettings(recording_s=600.0)
    both = pathway_ceiling(small_cnn, stimulus, ["bipolar", "amacrine"], retina, max_size=1, settings=settings)
    alone = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, max_size=1, settings=settings)
    np.testing.assert_allclose(both["layer_ceiling"].sel(layer="amacrine").values, alone["ceiling"].values)
    np.testing.assert_array_equal(
        both["layer_ceiling_channels"].sel(layer="amacrine").values, alone["ceiling_channels"].values
    )
    np.testing.assert_allclose(both["ceiling"].values, both["layer_ceiling"].max("layer").values)
    for pathway in both["pathway"].values:
        layer = str(both["ceiling_layer"].sel(pathway=pathway).values)
        assert float(both["layer_ceiling"].sel(layer=layer, pathway=pathway)) == float(
            both["ceiling"].sel(pathway=pathway)
        )


def test_named_ceiling_is_the_confidence_weighted_ceiling_of_each_hypothesis_layer_and_pathway():
    ceiling = xr.Dataset(
        {"layer_ceiling": (("layer", "pathway"), [[1.0, 0.5], [0.25, 0.0]])},
        coords={"layer": ["bipolar", "amacrine"], "pathway": ["p", "q"]},
    )
    tested = xr.Dataset(
        {
            "layer": ("hypothesis", ["bipolar", "amacrine", "bipolar"]),
            "block": ("hypothesis", ["q", "p", "p"]),
            "confidence": ("hypothesis", [0.2, 0.6, 0.2]),
        }
    )
    assert named_ceiling(tested, ceiling) == pytest.approx((0.2 * 0.5 + 0.6 * 0.25 + 0.2 * 1.0) / 1.0)
    assert np.isnan(named_ceiling(tested.assign(confidence=("hypothesis", [0.0, 0.0, 0.0])), ceiling))
    with pytest.raises(RetinaCodecError, match="without a ceiling"):
        named_ceiling(tested.assign(block=("hypothesis", ["q", "r", "p"])), ceiling)


def test_the_ceiling_takes_the_passes_of_a_shared_cache_and_gives_the_same_result(
    small_cnn, stimulus, retina, monkeypatch
):
    settings = HypothesisSettings(recording_s=600.0)
    alone = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, 1, settings=settings)
    calls = []
    masked = recorded.masked_mean_rates
    monkeypatch.setattr(recorded, "masked_mean_rates", lambda *a, **k: calls.append(len(a[2])) or masked(*a, **k))
    respond = retina.respond
    monkeypatch.setattr(retina, "respond", lambda *a, **k: calls.append(k) or respond(*a, **k))
    with recorded.PassCache() as cache:
        first = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, 1, settings=settings, cache=cache)
        once = list(calls)
        again = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, 1, settings=settings, cache=cache)
    assert calls == once and once.count(4) == 1 and len(once) == 2 + len(retina.pathways)  # 4 sets, each block once
    xr.testing.assert_identical(first, alone)
    xr.testing.assert_identical(again, alone)
