"""Hypotheses: predictions checked against retina_control and a forward pass by hand, matching
against planted activity, drug names against the DRUGS table, scores against hand computations,
and the test against the virtual retina's own wiring."""

import copy
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

import retinacodec.hypotheses as hyp
from retinacodec.attribution.options import AttributionOptions
from retinacodec.control.experiments import retina_control
from retinacodec.control.recorded import activity_at, record_layer
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.candidates import Candidate, merge_by_pathway, split_by_pathway
from retinacodec.hypotheses.effects import by_type, categories
from retinacodec.hypotheses.match import (
    MATCHES,
    PathwayMatch,
    drugs_for,
    inhibitory_pathways,
    pathway_block_correlation,
    pathway_correlation,
    pathway_partial_correlation,
    silenced_pathways,
)
from retinacodec.models.adapter import adapt
from retinacodec.models.registry import predict, windows
from retinacodec.models.retina_cnn import RetinaCNN
from retinacodec.models.virtual_retina import VirtualRetina
from retinacodec.plots import save_figure
from retinacodec.plots.hypotheses import plot_hypotheses
from retinacodec.stimuli import natural_jitter


@pytest.fixture(scope="module")
def retina():
    return VirtualRetina()


@pytest.fixture(scope="module")
def small_cnn(retina):
    """A random retina CNN on the virtual retina's cells (short history, 4 + 4 channels)."""
    torch.manual_seed(3)
    cells = retina.cells
    model = RetinaCNN(
        cells.sizes["cell"],
        history=8,
        bipolar_channels=4,
        amacrine_channels=4,
        cell_type=list(cells["cell_type"].values),
        cell_position=np.stack([cells["y"].values, cells["x"].values], axis=1),
    ).eval()
    with torch.no_grad():  # spread the readout so that silencing channels moves the rates
        model.ganglion[2].weight.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def stimulus():
    return natural_jitter(n_frames=100, seed=21, progress=False)


def dictionary(layer="bipolar"):
    """Three modes over four channels: channels {0, 1}, {2} and {1, 3} at half weight or more."""
    weights = np.array([[1.0, 0.6, 0.1, 0.0], [0.0, 0.2, 1.0, 0.3], [0.0, 0.9, 0.0, 1.0]])
    return xr.DataArray(weights, dims=("mode", "channel"), attrs={"layer": layer})


def listed(text: xr.DataArray) -> list[int]:
    return [int(c) for c in str(text.values).split(", ")]


def test_predicted_changes_are_what_retina_control_measures_when_ablating_the_same_channels(
    small_cnn, stimulus, retina
):
    for layer in ("bipolar", "amacrine"):
        result = hyp.generate(
            small_cnn, stimulus, dictionary(layer), layer, virtual_retina=retina, n_shuffles=2, seed=5, progress=False
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
            n_shuffles=0,
            split=False,
            trim=False,
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


def test_a_block_of_inhibitory_outputs_keeps_the_rises_of_silencing_and_zeroes_the_falls():
    change = np.array([[-2.0, 0.0, 0.5], [3.0, -0.1, 1e-9]])
    np.testing.assert_array_equal(hyp.released_change(change), [[0.0, 0.0, 0.5], [3.0, 0.0, 1e-9]])


def test_the_inhibitory_pathways_are_the_sources_of_inhibitory_connections(retina):
    assert inhibitory_pathways(retina.connections, retina.pathways) == ["amacrine_narrow", "amacrine_wide"]
    wiring = xr.Dataset({"source": ("connection", ["a", "b", "a", "c"]), "sign": ("connection", [1, -1, 1, -1])})
    assert inhibitory_pathways(wiring, ["c", "a", "b"]) == ["c", "b"]  # in the order asked


def test_a_match_among_some_pathways_takes_the_full_matchs_columns(small_cnn, stimulus, retina):
    matched = PathwayMatch.of(record_layer(small_cnn, stimulus, "amacrine", 50), retina)
    among = matched.among(["amacrine_wide", "bipolar_on_sustained"])
    sets = [(0,), (1, 2), (3,)]
    for rule in MATCHES:
        full = matched.values(sets, rule)
        np.testing.assert_array_equal(
            among.values(sets, rule),
            full[:, [matched.pathways.index("amacrine_wide"), matched.pathways.index("bipolar_on_sustained")]],
        )
    assert among.channel_activity is matched.channel_activity
    # no sets: empty values, nothing on a route, nothing to merge
    assert matched.values([]).shape == (0, len(matched.pathways)) and among.values([]).shape == (0, 2)
    assert among.on_route([]).shape == (0,) and merge_by_pathway([], among) == []


def test_a_sets_inhibition_stands_for_an_inhibitory_pathway_only_on_its_route():
    rng = np.random.default_rng(0)
    on, off = rng.normal(size=(2, 400))
    amacrine = on + 0.3 * rng.normal(size=400)  # driven by "on", like the narrow-field amacrine
    pathways = np.stack([on, amacrine, off], axis=1)[:, :, None]  # (time, pathway, position)
    channels = np.stack([on + 0.1 * rng.normal(size=400), off + 0.1 * rng.normal(size=400)], axis=1)[:, :, None]
    matched = PathwayMatch(channels, pathways, ["on", "amacrine", "off"], silenced=[(0, 1), (1,), (2,)])
    among = matched.among(["amacrine"])
    assert among.values([(0,), (1,)]).argmax(axis=1).tolist() == [0, 0]  # both matched to the only one offered
    # the "on" channel follows a pathway that drives the amacrine; the "off" channel does not
    np.testing.assert_array_equal(among.on_route([(0,), (1,)]), [True, False])
    np.testing.assert_array_equal(
        PathwayMatch(channels, pathways, ["on", "amacrine", "off"]).among(["amacrine"]).on_route([(0,), (1,)]),
        [False, False],
    )  # without wiring a block silences its pathway alone


def test_inhibitory_hypotheses_name_an_inhibitory_pathway_and_predict_only_rises(small_cnn, stimulus, retina):
    kinds = {}
    for inhibitory in (True, False):  # a long recording makes the small model's effects visible
        kinds[inhibitory] = hyp.generate(
            small_cnn,
            stimulus,
            dictionary("bipolar"),
            "bipolar",
            virtual_retina=retina,
            n_shuffles=2,
            seed=5,
            progress=False,
            recording_s=1e5,
            inhibitory=inhibitory,
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
        gain=2.0,
        n_shuffles=0,
        progress=False,
        recording_s=1e5,
    )
    assert set(boosted["blocked_outputs"].values) == {"all"}  # a gain scales whole channels


def test_same_seed_gives_the_same_shuffles_and_another_seed_other_ones(small_cnn, stimulus):
    # the random CNN's changes are too small to see in 60 s: keep every set
    kwargs = dict(n_shuffles=4, progress=False, virtual_retina=None, require_effect=False)
    first = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", seed=1, **kwargs)
    again = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", seed=1, **kwargs)
    other = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", seed=2, **kwargs)
    assert (first["shuffled_channels"].values == again["shuffled_channels"].values).all()
    assert (first["shuffled_channels"].values != other["shuffled_channels"].values).any()
    assert (first["block"].values == "").all() and np.isnan(first["match_r"].values).all()
    np.testing.assert_array_equal(first["confidence"].values, first["detectability"].values)
    none = hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", seed=1, **{**kwargs, "n_shuffles": 0})
    assert none.sizes["shuffle"] == 0 and none["shuffled_change"].shape == (0, 3, small_cnn.n_cells)
    np.testing.assert_array_equal(none["predicted_change"].values, first["predicted_change"].values)


def test_layer_activity_at_a_pixel_is_the_forward_pass_output_at_the_centred_map_position(small_cnn, stimulus):
    positions = np.array([[19, 31], [25, 25], [30, 20]])
    for layer, offset in (("bipolar", 7), ("amacrine", 12)):  # (15 - 1) / 2 and that + (11 - 1) / 2
        recorded = activity_at(record_layer(small_cnn, stimulus, layer), positions)
        inputs, _ = windows(small_cnn, stimulus)
        with torch.no_grad():
            direct = adapt(small_cnn).capture(inputs[:20].contiguous(), layer).activation.numpy()
        expected = direct[:, :, positions[:, 0] - offset, positions[:, 1] - offset]
        np.testing.assert_allclose(recorded[:20], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(RetinaCodecError, match="outside the layer's 26 x 26 map"):
        activity_at(record_layer(small_cnn, stimulus, "amacrine"), np.array([[5, 25]]))


def test_match_picks_the_pathway_whose_activity_the_channels_carry():
    rng = np.random.default_rng(0)
    pathways = rng.standard_normal((300, 6, 4))
    channels = np.stack(
        [
            2.0 * pathways[:, 5] + 0.5,  # wide-field, scaled and shifted
            pathways[:, 1] + 0.1 * rng.standard_normal((300, 4)),
            -pathways[:, 0],
            np.zeros((300, 4)),
        ],
        axis=1,
    )
    r = pathway_correlation(channels, pathways, [[0], [1], [2], [3], [0, 3]])
    assert r[0].argmax() == 5 and r[0, 5] == pytest.approx(1.0)
    assert r[1].argmax() == 1 and r[1, 1] > 0.99
    assert r[2, 0] == pytest.approx(-1.0)
    np.testing.assert_array_equal(r[3], 0.0)  # a silent channel matches nothing
    np.testing.assert_allclose(r[4], r[0])


def test_partial_correlation_is_the_correlation_of_least_squares_residuals():
    """Against the textbook definition: regress both the set and pathway k on the other pathways,
    correlate the residuals."""
    rng = np.random.default_rng(1)
    pathways = rng.standard_normal((200, 4, 3))
    pathways[:, 3] = pathways[:, 0] + 0.2 * rng.standard_normal((200, 3))  # two collinear pathways
    channels = np.stack(
        [
            pathways[:, 0] + 0.3 * rng.standard_normal((200, 3)),
            pathways[:, 1] - pathways[:, 2] + rng.standard_normal((200, 3)),
        ],
        axis=1,
    )
    partial = pathway_partial_correlation(channels, pathways, [[0], [1], [0, 1]])
    flat = np.moveaxis(pathways, 1, 0).reshape(4, -1).T
    for row, chosen in enumerate([[0], [1], [0, 1]]):
        target = channels[:, chosen].sum(axis=1).ravel()
        for k in range(4):
            others = np.column_stack([np.ones(len(target)), np.delete(flat, k, axis=1)])
            residual = lambda y: y - others @ np.linalg.lstsq(others, y, rcond=None)[0]
            expected = np.corrcoef(residual(target), residual(flat[:, k]))[0, 1]
            assert partial[row, k] == pytest.approx(expected, abs=1e-6)


def test_a_set_that_follows_one_of_two_collinear_pathways_is_matched_to_it_uniquely():
    """Channel = pathway 0 exactly; pathway 3 is pathway 0 plus a little noise. The plain
    correlation barely tells them apart; the partial correlation gives 1 for pathway 0, ~0 for 3."""
    rng = np.random.default_rng(2)
    pathways = rng.standard_normal((400, 4, 2))
    pathways[:, 3] = pathways[:, 0] + 0.15 * rng.standard_normal((400, 2))
    channels = pathways[:, [0]]
    r = pathway_correlation(channels, pathways, [[0]])[0]
    partial = pathway_partial_correlation(channels, pathways, [[0]])[0]
    assert r[3] > 0.98 and partial[0] == pytest.approx(1.0, abs=1e-6) and abs(partial[3]) < 1e-6
    matched = PathwayMatch(channels, pathways, ["a", "b", "c", "d"])
    assert matched.best([[0]]) == ["a"]


def test_a_block_silences_the_pathway_and_the_interneurons_it_excites_in_the_retinas_wiring(retina):
    """From the wiring table by hand: ON sustained bipolars drive the narrow-field amacrine, both
    transient bipolars drive the wide-field one, which only inhibits (its block releases, not
    silences, the transient terminals)."""
    names = list(retina.pathways)
    silenced = silenced_pathways(retina.connections, names)
    by_name = {names[k]: {names[j] for j in group} for k, group in enumerate(silenced)}
    assert by_name == {
        "bipolar_on_sustained": {"bipolar_on_sustained", "amacrine_narrow"},
        "bipolar_off_sustained": {"bipolar_off_sustained"},
        "bipolar_on_transient": {"bipolar_on_transient", "amacrine_wide"},
        "bipolar_off_transient": {"bipolar_off_transient", "amacrine_wide"},
        "amacrine_narrow": {"amacrine_narrow"},
        "amacrine_wide": {"amacrine_wide"},
    }
    assert all(names[group[0]] == name for name, group in zip(names, silenced))


def test_block_correlation_is_the_multiple_partial_correlation_and_reduces_to_the_partial_one():
    """Against least squares by hand: regress the set and the block's pathways on the others, R² of
    the residuals; with one pathway per block it is pathway_partial_correlation."""
    rng = np.random.default_rng(4)
    pathways = rng.standard_normal((300, 4, 2))
    pathways[:, 1] = np.maximum(pathways[:, 0], 0) + 0.3 * rng.standard_normal((300, 2))
    channels = np.stack(
        [
            pathways[:, 0] + pathways[:, 1] + 0.5 * rng.standard_normal((300, 2)),
            -pathways[:, 2] + 0.2 * rng.standard_normal((300, 2)),
        ],
        axis=1,
    )
    silenced = [(0, 1), (1,), (2,), (3,)]
    value = pathway_block_correlation(channels, pathways, [[0], [1]], silenced)
    flat = np.moveaxis(pathways, 1, 0).reshape(4, -1).T
    for row in range(2):
        target = channels[:, row].ravel()
        for k, group in enumerate(silenced):
            others = np.column_stack([np.ones(len(target)), np.delete(flat, list(group), axis=1)])
            residual = lambda y: y - others @ np.linalg.lstsq(others, y, rcond=None)[0]
            own, block = residual(target), residual(flat[:, list(group)])
            r2 = 1 - np.sum((own - block @ np.linalg.lstsq(block, own, rcond=None)[0]) ** 2) / np.sum(own**2)
            sign = np.sign(own @ residual(flat[:, list(group)].sum(axis=1)))
            assert value[row, k] == pytest.approx(sign * np.sqrt(r2), abs=1e-6)
    assert value[1].argmin() == 2 and value[1, 2] < -0.9  # the channel is the pathway's opposite
    singles = pathway_block_correlation(channels, pathways, [[0], [1]], [(k,) for k in range(4)])
    np.testing.assert_allclose(singles, pathway_partial_correlation(channels, pathways, [[0], [1]]), atol=1e-9)


def test_a_channel_doing_a_bipolars_and_its_amacrines_work_is_matched_to_the_bipolars_block():
    """Planted: pathway 1 is a rectified copy of pathway 0 (an amacrine driven by a bipolar), and
    the channel, rectified as CNN channels are, follows the amacrine. The partial correlation
    names the amacrine; the block match names the bipolar, whose block silences both."""
    rng = np.random.default_rng(5)
    bipolar = rng.standard_normal((2000, 3))
    amacrine = np.maximum(bipolar, 0.0) + 0.05 * rng.standard_normal((2000, 3))
    pathways = np.stack([bipolar, amacrine, rng.standard_normal((2000, 3))], axis=1)
    channels = (np.maximum(bipolar, 0.0) + 0.2 * rng.standard_normal((2000, 3)))[:, None]
    matched = PathwayMatch(channels, pathways, ["bipolar", "amacrine", "other"], [(0, 1), (1,), (2,)])
    assert matched.best([[0]], "partial") == ["amacrine"]
    value = matched.block([[0]])[0]
    assert value[0] > value[1] > 0.5 and matched.best([[0]], "block") == ["bipolar"] == matched.best([[0]])
    assert PathwayMatch(channels, pathways, ["bipolar", "amacrine", "other"]).best([[0]]) == ["amacrine"]


def test_sets_matched_to_the_same_pathway_merge_into_one_hypothesis():
    rng = np.random.default_rng(3)
    pathways = rng.standard_normal((300, 3, 2))
    channels = np.stack([pathways[:, 0], pathways[:, 0] + 0.1 * rng.standard_normal((300, 2)), pathways[:, 2]], axis=1)
    matched = PathwayMatch(channels, pathways, ["p0", "p1", "p2"])
    chosen = [
        Candidate((0,), "first", [4], 0.2),
        Candidate((2,), "second", [5], 0.1),
        Candidate((1,), "third", [6], 0.3),
    ]
    merged = merge_by_pathway(chosen, matched)
    # channel 0 is pathway 0 exactly, channel 1 a noisy copy: channel 0's set stands for it
    assert [(m.pathway, m.channels, m.modes) for m in merged] == [("p0", (0,), [4]), ("p2", (2,), [5])]
    assert merged[0].reason == "first; also matched to it: third (channels 1)" and merged[0].usage == 0.2
    swapped = merge_by_pathway([chosen[2], chosen[0]], matched)
    assert [(m.pathway, m.channels) for m in swapped] == [("p0", (0,))]


def test_a_set_whose_channels_follow_two_pathways_splits_into_one_set_per_pathway():
    rng = np.random.default_rng(6)
    pathways = rng.standard_normal((300, 2, 2))
    channels = np.stack(
        [
            pathways[:, 0],
            pathways[:, 1] + 0.1 * rng.standard_normal((300, 2)),
            pathways[:, 0] + 0.1 * rng.standard_normal((300, 2)),
        ],
        axis=1,
    )
    matched = PathwayMatch(channels, pathways, ["bipolar_off_sustained", "amacrine_narrow"])
    chosen = [
        Candidate((0, 1, 2), "mode most tied to OFF cells", [3], 0.4),
        Candidate((0, 2), "used", [5], 0.1),
        Candidate((1,), "used", [6], 0.2),
    ]
    split = split_by_pathway(chosen, matched)
    assert [(c.channels, c.modes) for c in split] == [((0, 2), [3]), ((1,), [3])]
    assert split[0].reason == "mode most tied to OFF cells, its channels that follow the OFF sustained bipolar"
    assert split[1].reason.endswith("follow the narrow-field amacrine") and split[1].usage == 0.4
    whole = split_by_pathway([Candidate((0, 2), "used", [5], 0.1)], matched)
    assert [(c.channels, c.reason) for c in whole] == [((0, 2), "used")]


def test_a_set_is_trimmed_to_the_channels_that_follow_its_pathway_most_closely():
    """Planted: channels 0 and 2 are noisy copies of pathway 0 (their sum follows it better than
    either), channel 1 follows no pathway."""
    from retinacodec.hypotheses.candidates import trim_to_pathway

    rng = np.random.default_rng(8)
    pathways = rng.standard_normal((2000, 2, 2))
    channels = np.stack(
        [
            pathways[:, 0] + 0.5 * rng.standard_normal((2000, 2)),
            rng.standard_normal((2000, 2)),
            pathways[:, 0] + 0.5 * rng.standard_normal((2000, 2)),
        ],
        axis=1,
    )
    matched = PathwayMatch(channels, pathways, ["bipolar_off_sustained", "amacrine_narrow"])
    chosen = [
        Candidate((0, 1, 2), "mode most tied to OFF cells", [3], 0.4),
        Candidate((0, 2), "used", [5], 0.1),
        Candidate((1, 2), "used", [6], 0.2),
    ]
    trimmed = trim_to_pathway(chosen, matched)
    # (0, 1, 2) loses channel 1 and is then (0, 2), listed once; (1, 2) is channel 2 alone
    assert [(c.channels, c.modes) for c in trimmed] == [((0, 2), [3]), ((2,), [6])]
    assert trimmed[0].reason == (
        "mode most tied to OFF cells, trimmed to the channels that follow the OFF sustained bipolar most closely"
    )
    value = matched.values([(0, 1, 2), (0, 2), (0,), (2,)])[:, 0]
    assert value[1] > value[0] and value[1] > max(value[2], value[3])  # no single removal raises (0, 2)
    assert [(c.channels, c.reason) for c in trim_to_pathway([Candidate((0, 2), "used")], matched)] == [((0, 2), "used")]


def test_a_set_whose_silencing_changes_no_cell_type_visibly_is_left_out_and_kept_when_it_is_the_only_one(
    small_cnn, stimulus, retina, monkeypatch
):
    """Planted: the amacrine convolution never reads bipolar channel 2, so silencing it changes nothing."""
    deaf = copy.deepcopy(small_cnn)
    with torch.no_grad():
        deaf.amacrine[0].weight[:, 2] = 0.0
    # the random CNN's changes are small (mHz): a long imagined recording makes them visible
    options = dict(virtual_retina=retina, n_shuffles=0, split=False, trim=False, recording_s=1e6, progress=False)
    kept = hyp.generate(deaf, stimulus, dictionary(), "bipolar", **options)
    every = hyp.generate(deaf, stimulus, dictionary(), "bipolar", require_effect=False, **options)
    assert "2" in list(every["channels"].values) and "2" not in list(kept["channels"].values)
    silent = every["channels"] == "2"
    assert (every["predicted_category"].where(silent, drop=True) == 0).all()
    np.testing.assert_allclose(every["predicted_change"].where(silent, drop=True), 0.0, atol=1e-5)
    assert (kept["predicted_category"] != 0).any("type").all()  # every hypothesis kept predicts a visible change
    assert (kept.attrs["require_effect"], every.attrs["require_effect"]) == (1, 0)
    import retinacodec.control.recorded as interventions

    silenced = []
    original = interventions._linear_mean_rates
    monkeypatch.setattr(interventions, "_linear_mean_rates", lambda *a, **k: silenced.extend(a[3]) or original(*a, **k))
    again = hyp.generate(deaf, stimulus, dictionary(), "bipolar", **options)
    assert len(silenced) == len(set(silenced))  # a set kept is silenced once, for the filter and the prediction
    np.testing.assert_array_equal(again["predicted_change"], kept["predicted_change"])
    only = xr.DataArray(np.array([[0.0, 0.0, 1.0, 0.0]]), dims=("mode", "channel"), attrs={"layer": "bipolar"})
    alone = hyp.generate(deaf, stimulus, only, "bipolar", **options)
    assert list(alone["channels"].values) == ["2"]  # no set has an effect: the layer still yields one


def test_drugs_are_named_from_the_virtual_retinas_pharmacology(retina):
    assert drugs_for("amacrine_wide", retina) == ("picrotoxin", "")
    assert drugs_for("amacrine_narrow", retina) == ("strychnine", "")
    drug, also = drugs_for("bipolar_on_sustained", retina)
    assert drug == "L-AP4 or APB" and also == "ON transient bipolar"
    assert drugs_for("bipolar_off_sustained", retina) == ("", "")


def records(
    predicted, observed, confidence, shuffled, types=("on", "off", "oms"), per_type=4, baseline=10.0, blocks=None
):
    """Hand-made tested hypotheses: changes per type (Hz), spread equally over each type's cells."""
    cell_type = np.repeat(types, per_type)

    def per_cell(values):
        return np.repeat(np.asarray(values, dtype=float), per_type, axis=-1)

    n = len(predicted)
    coords = {
        "hypothesis": [f"h{i}" for i in range(n)],
        "cell": np.arange(cell_type.size),
        "cell_type": ("cell", cell_type),
        "shuffle": np.arange(len(shuffled)),
    }
    return xr.Dataset(
        {
            "predicted_change": (("hypothesis", "cell"), per_cell(predicted)),
            "observed_change": (("hypothesis", "cell"), per_cell(observed)),
            "shuffled_change": (("shuffle", "hypothesis", "cell"), per_cell(shuffled)),
            "baseline_rate": ("cell", np.full(cell_type.size, baseline)),
            "observed_baseline_rate": ("cell", np.full(cell_type.size, baseline)),
            "confidence": ("hypothesis", np.asarray(confidence, dtype=float)),
            "block": ("hypothesis", blocks or ["amacrine_wide"] * n),
        },
        coords=coords,
        attrs={"kind": "hypotheses", "recording_s": 60.0, "z_min": 2.0, "model_history": 1},
    )


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


def test_boosting_instead_of_blocking_scales_the_channels_in_the_cnn_and_the_pathway_in_the_retina(
    small_cnn, stimulus, retina
):
    boosted = hyp.generate(
        small_cnn, stimulus, dictionary(), "bipolar", virtual_retina=retina, gain=2.0, n_shuffles=1, progress=False
    )
    assert boosted.attrs["intervention"] == "scale by 2" and (boosted["drug"].values == "").all()
    # doubling channels of the bipolar output = doubling their input weights in the next (linear) convolution
    for h in boosted["hypothesis"].values:
        twice = copy.deepcopy(small_cnn)
        with torch.no_grad():
            twice.amacrine[0].weight[:, listed(boosted["channels"].sel(hypothesis=h))] *= 2.0
        expected = predict(twice, stimulus).mean("time") - predict(small_cnn, stimulus).mean("time")
        np.testing.assert_allclose(boosted["predicted_change"].sel(hypothesis=h), expected, rtol=1e-3, atol=1e-4)
    # in the retina, doubling the wide-field amacrine's inhibition lowers the rates of the cells it reaches
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
    with pytest.raises(RetinaCodecError, match="gain is 1"):
        hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", gain=1, progress=False)


def test_markdown_says_the_intervention_drug_cell_types_and_outcome_in_words(retina):
    stimulus = natural_jitter(n_frames=900, seed=31, progress=False)
    types = tuple(dict.fromkeys(str(t) for t in retina.cells["cell_type"].values))
    effect = np.array([{"oms": 2.0, "on_off": 0.8}.get(t, 0.0) for t in types])  # the cells it reaches
    hand = records(
        predicted=[effect],
        observed=[effect],
        confidence=[0.8],
        shuffled=[[effect]],
        types=types,
        per_type=5,
        baseline=5.0,
    )
    hand = hand.drop_vars(["observed_change", "observed_baseline_rate"]).assign(
        layer=("hypothesis", ["amacrine"]),
        reason=("hypothesis", ["mode most tied to OMS cells (r = 0.61)"]),
        modes=("hypothesis", ["3, 7"]),
        channels=("hypothesis", ["2, 5"]),
        pathway_name=("hypothesis", ["wide-field amacrine"]),
        drug=("hypothesis", ["picrotoxin"]),
        drug_also_blocks=("hypothesis", [""]),
        match_r=("hypothesis", [0.8]),
    )
    hand = hand.assign(
        predicted_effect=by_type(hand["predicted_change"]),
        predicted_category=categories(hand["predicted_change"], hand["baseline_rate"], 60.0, 2.0),
    )
    hand.attrs["stimulus"] = "natural_jitter"
    text = hyp.to_markdown(hand)
    assert text.startswith(
        "1. Blocking the wide-field amacrine pathway (picrotoxin) should raise the OMS cells' "
        "rates by ~2.0 Hz (+40%) and raise the ON-OFF cells' rates by ~0.8 Hz (+16%) under "
        "natural jitter; confidence 0.80."
    )
    assert "channels 2, 5 of layer amacrine" in text and "mode most tied to OMS cells" in text
    tested = hyp.test(hand, retina, stimulus, progress=False)
    text = hyp.to_markdown(tested)
    assert "*Virtual retina:* ON-OFF +" in text and ", OMS +" in text and "**confirmed**" in text
    assert "Recovery score 1.00" in text


def test_lists_of_effects_and_cell_types_read_as_in_a_sentence():
    from retinacodec.hypotheses.report import spoken_list

    assert spoken_list([]) == ""
    assert spoken_list(["ON"]) == "ON"
    assert spoken_list(["ON", "OFF"]) == "ON and OFF"
    assert spoken_list(name for name in ("ON", "OFF", "ON-OFF")) == "ON, OFF and ON-OFF"


def test_plot_shows_one_panel_per_hypothesis_and_the_scores(tmp_path):
    tested = hyp.score(
        records(
            predicted=[[-3, 3, 0], [0, 0, 3]],
            observed=[[-3, 0, 0], [0, 0, 3]],
            confidence=[0.5, 0.8],
            shuffled=[[[3, 0, 0], [0, 0, 0]]],
        )
    )
    tested = tested.assign(
        pathway_name=("hypothesis", ["ON sustained bipolar", "wide-field amacrine"]),
        drug=("hypothesis", ["L-AP4 or APB", "picrotoxin"]),
    )
    figure = plot_hypotheses(tested)
    assert len(figure.axes) == 3
    titles = " ".join(ax.get_title() for ax in figure.axes)
    assert "picrotoxin" in titles and "confirmed" in titles and "0.81 vs shuffled 0.00" in figure.get_suptitle()
    with pytest.raises(RetinaCodecError, match="generate"):
        plot_hypotheses(xr.Dataset())


def test_untested_predictions_of_a_recording_with_one_cell_type_draw_without_collapsed_axes(tmp_path):
    """A recording's cells have no types ("unknown"), and a set can list all 8 channels: the row
    labels are long and there is one column, which once left constrained layout no room."""
    untested = records(
        predicted=[[0.1], [-0.1]],
        observed=[[0], [0]],
        confidence=[0.72, 0.86],
        shuffled=[[[0], [0]]],
        types=("unknown",),
    ).drop_vars("observed_change")
    untested = untested.assign(
        predicted_effect=by_type(untested["predicted_change"]),
        channels=("hypothesis", ["0, 1, 2, 3, 4, 5, 6, 7", "0, 2, 3, 4, 5, 6"]),
    )
    figure = plot_hypotheses(untested)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constrained layout warns when the axes collapse
        assert save_figure(figure, tmp_path / "predictions.png").is_file()
    heat = figure.axes[0].get_position()  # laid out by the save
    assert heat.width > 0.2 and heat.height > 0.3  # the cells keep a fifth of the width and a third of the height


def test_bad_inputs_raise_one_clear_error(small_cnn, stimulus, retina):
    with pytest.raises(RetinaCodecError, match="unknown layer 'retina9'"):
        hyp.generate(small_cnn, stimulus, dictionary("retina9"), "retina9", progress=False)
    with pytest.raises(RetinaCodecError, match="fitted on layer 'amacrine', not 'bipolar'"):
        hyp.generate(small_cnn, stimulus, dictionary("amacrine"), "bipolar", progress=False)
    with pytest.raises(RetinaCodecError, match="recording_s"):
        hyp.generate(small_cnn, stimulus, dictionary(), "bipolar", recording_s=0, progress=False)
    with pytest.raises(RetinaCodecError, match="the modes have 5 channels"):
        wide = xr.DataArray(np.ones((2, 5)), dims=("mode", "channel"), attrs={"layer": "bipolar"})
        hyp.generate(small_cnn, stimulus, wide, "bipolar", progress=False)
    unmatched = hyp.generate(
        small_cnn, stimulus, dictionary(), "bipolar", virtual_retina=None, n_shuffles=1, progress=False
    )
    with pytest.raises(RetinaCodecError, match="name no pathway"):
        hyp.test(unmatched, retina, stimulus, progress=False)
    with pytest.raises(RetinaCodecError, match="kind = 'hypotheses'"):
        hyp.test(xr.Dataset(), retina, stimulus, progress=False)
    other = VirtualRetina.from_dict({"cells": {"on": [[25, 25]]}})
    matched = unmatched.assign(block=("hypothesis", ["amacrine_wide"] * unmatched.sizes["hypothesis"]))
    with pytest.raises(RetinaCodecError, match="not the hypotheses' cells"):
        hyp.test(matched, other, stimulus, progress=False)


def _single_channel_agreement(model, stimulus, retina, layer, pathways, recording_s=600.0, released=False):
    """(channel, pathway) type agreement of silencing each channel alone (retina_control), or with
    ``released`` of blocking its inhibitory outputs only (the rises of silencing kept), with each
    pathway's block in the virtual retina (respond), computed without the ceiling's code."""
    from retinacodec.hypotheses.score import type_agreement

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
    from retinacodec.hypotheses.ceiling import pathway_ceiling

    ceiling = pathway_ceiling(
        small_cnn, stimulus, ["amacrine"], retina, max_size=1, recording_s=600.0, inhibitory=False
    )
    assert list(ceiling["pathway"].values) == list(retina.pathways)
    pathways = ["bipolar_off_sustained", "amacrine_wide"]
    expected = _single_channel_agreement(small_cnn, stimulus, retina, "amacrine", pathways).max(axis=0)
    np.testing.assert_allclose(ceiling["ceiling"].sel(pathway=pathways).values, expected)
    assert ceiling.attrs["mean_ceiling"] == pytest.approx(float(ceiling["ceiling"].mean()))
    assert "match_agreement" not in ceiling  # no match stimulus, no match


def test_the_match_over_every_set_takes_the_closest_following_channel_of_either_layer(small_cnn, stimulus, retina):
    from retinacodec.hypotheses.ceiling import pathway_ceiling

    match = natural_jitter(n_frames=80, seed=23, progress=False)
    layers = ["bipolar", "amacrine"]
    ceiling = pathway_ceiling(
        small_cnn, stimulus, layers, retina, max_size=1, recording_s=600.0, match_stimulus=match, match="partial"
    )
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
    with pytest.raises(RetinaCodecError, match="unknown match 'nearest'; expected one of block, partial"):
        pathway_ceiling(small_cnn, stimulus, layers, retina, match_stimulus=match, match="nearest")


def test_the_assigned_ceiling_takes_only_the_sets_the_match_assigns_each_pathway(small_cnn, stimulus, retina):
    from retinacodec.hypotheses.ceiling import pathway_ceiling

    match = natural_jitter(n_frames=80, seed=23, progress=False)
    layers = ["bipolar", "amacrine"]
    ceiling = pathway_ceiling(
        small_cnn, stimulus, layers, retina, max_size=1, recording_s=600.0, match_stimulus=match, inhibitory=False
    )
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
    from retinacodec.hypotheses.ceiling import RELEASED, pathway_ceiling

    match = natural_jitter(n_frames=80, seed=23, progress=False)  # a long recording: the small model's effects count
    both = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, max_size=1, recording_s=1e4, match_stimulus=match)
    silencing = pathway_ceiling(
        small_cnn, stimulus, ["amacrine"], retina, max_size=1, recording_s=1e4, match_stimulus=match, inhibitory=False
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
    from retinacodec.hypotheses.ceiling import pathway_ceiling

    both = pathway_ceiling(small_cnn, stimulus, ["bipolar", "amacrine"], retina, max_size=1, recording_s=600.0)
    alone = pathway_ceiling(small_cnn, stimulus, ["amacrine"], retina, max_size=1, recording_s=600.0)
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
    from retinacodec.hypotheses.ceiling import named_ceiling

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


def test_hypotheses_record_what_the_modes_decompose(small_cnn, stimulus):
    from retinacodec.attribution.ig import contributions
    from retinacodec.modes.workflow import fit_modes
    from retinacodec.targets import Cell

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
        result = hyp.generate(small_cnn, stimulus, modes, "amacrine", virtual_retina=None, n_shuffles=0, progress=False)
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


def test_markdown_names_the_runner_up_pathway_by_the_rule_that_matched():
    hand = records(predicted=[[0, 0, 2]], observed=[[0, 0, 2]], confidence=[0.6], shuffled=[[[0, 0, 0]]])
    hand = (
        hand.drop_vars(["observed_change", "observed_baseline_rate"])
        .assign_coords(pathway=["amacrine_wide", "amacrine_narrow", "bipolar_on_sustained"])
        .assign(
            layer=("hypothesis", ["amacrine"]),
            reason=("hypothesis", ["used"]),
            modes=("hypothesis", ["1"]),
            channels=("hypothesis", ["4"]),
            pathway_name=("hypothesis", ["wide-field amacrine"]),
            drug=("hypothesis", ["picrotoxin"]),
            drug_also_blocks=("hypothesis", [""]),
            match_r=("hypothesis", [0.5]),
            pathway_block_correlation=(("hypothesis", "pathway"), [[0.5, 0.1, 0.3]]),
            pathway_correlation=(("hypothesis", "pathway"), [[0.7, 0.9, 0.2]]),
        )
    )
    hand = hand.assign(
        predicted_effect=by_type(hand["predicted_change"]),
        predicted_category=categories(hand["predicted_change"], hand["baseline_rate"], 60.0, 2.0),
    )
    hand.attrs.update(stimulus="natural_jitter", match_rule="block")
    assert "activity match r = 0.50 (next: ON sustained bipolar, r = 0.30)" in hyp.to_markdown(hand)
    hand.attrs["match_rule"] = "correlation"
    assert "(next: narrow-field amacrine, r = 0.90)" in hyp.to_markdown(hand)


@pytest.mark.parametrize("gain", [0.0, 2.0])
def test_convolution_run_once_per_batch_gives_the_masked_passes_rates(small_cnn, stimulus, gain, monkeypatch):
    import retinacodec.control.recorded as interventions

    adapted = adapt(small_cnn)
    assert interventions.leading_convolution(adapted.downstream("bipolar").steps) is not None
    assert interventions.leading_convolution(adapted.downstream("amacrine").steps) is None
    recording = record_layer(small_cnn, stimulus, "bipolar")
    sets = [(), (0,), (1, 2), tuple(range(recording.activation.shape[1]))]
    linear = interventions.scaled_mean_rates(small_cnn, recording, "bipolar", sets, gain, batch_size=7)
    monkeypatch.setattr(interventions, "leading_convolution", lambda steps: None)
    masked = interventions.scaled_mean_rates(small_cnn, recording, "bipolar", sets, gain, batch_size=7)
    np.testing.assert_allclose(linear, masked, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(linear[0], recording.rates.values.mean(axis=0), rtol=1e-5)
    assert not np.allclose(linear[1], linear[0])


def test_shared_passes_give_the_same_rates_and_record_each_stimulus_once(small_cnn, stimulus, monkeypatch):
    import retinacodec.control.recorded as interventions

    sets = [(0,), (1, 2), (0,)]
    alone = interventions.scaled_mean_rates(small_cnn, record_layer(small_cnn, stimulus, "bipolar"), "bipolar", sets)
    calls = []
    monkeypatch.setattr(interventions, "predict", lambda *a, **k: calls.append(1) or predict(*a, **k))
    with interventions.shared_passes():
        first = interventions.record_layer(small_cnn, stimulus, "bipolar")
        again = interventions.record_layer(small_cnn, stimulus.copy(deep=True), "bipolar")
        with interventions.shared_passes():  # nested: the same cache
            shared = interventions.scaled_mean_rates(small_cnn, again, "bipolar", sets)
        other = interventions.record_layer(small_cnn, stimulus.isel(time=slice(1, None)), "bipolar")
    assert again is first and other is not first and len(calls) == 2
    np.testing.assert_array_equal(shared, alone)
    np.testing.assert_array_equal(shared[0], shared[2])
    assert interventions.record_layer(small_cnn, stimulus, "bipolar") is not first  # the cache ended with the block


def test_the_virtual_retinas_blocks_run_once_per_shared_block_and_give_the_direct_rates(retina, stimulus, monkeypatch):
    from retinacodec.control.recorded import shared_passes
    from retinacodec.hypotheses.score import retina_mean_rate

    direct = retina.respond(stimulus, block="amacrine_wide")["rate"].values[7:].mean(axis=0)
    calls = []
    respond = retina.respond
    monkeypatch.setattr(retina, "respond", lambda *a, **k: calls.append(k) or respond(*a, **k))
    with shared_passes():
        first = retina_mean_rate(retina, stimulus, "amacrine_wide", first=7)
        again = retina_mean_rate(retina, stimulus.copy(deep=True), "amacrine_wide", first=7)
        retina_mean_rate(retina, stimulus, None, first=7)
    np.testing.assert_array_equal(first, direct)
    assert again is first and calls == [{"block": "amacrine_wide"}, {}]
    retina_mean_rate(retina, stimulus, "amacrine_wide", first=7)
    assert len(calls) == 3


def test_pathway_activities_are_simulated_once_per_shared_block(small_cnn, retina, stimulus, monkeypatch):
    from retinacodec.control.recorded import shared_passes
    from retinacodec.hypotheses.match import PathwayMatch

    recording = record_layer(small_cnn, stimulus, "bipolar")
    direct = PathwayMatch.of(recording, retina)
    calls = []
    simulate = retina.interneuron_activity
    monkeypatch.setattr(retina, "interneuron_activity", lambda *a, **k: calls.append(1) or simulate(*a, **k))
    with shared_passes():
        first = PathwayMatch.of(recording, retina)
        PathwayMatch.of(record_layer(small_cnn, stimulus, "amacrine"), retina)
    np.testing.assert_array_equal(first.pathway_activity, direct.pathway_activity)
    assert len(calls) == 1
