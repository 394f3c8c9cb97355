"""Matching channel sets to pathways: against planted activity and least squares by hand, the
virtual retina's wiring and drug table, and interneuron activities simulated once per pass cache."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.control.recorded import PassCache, record_layer
from retinacodec.hypotheses.candidates import merge_by_pathway
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


def test_drugs_are_named_from_the_virtual_retinas_pharmacology(retina):
    assert drugs_for("amacrine_wide", retina) == ("picrotoxin", "")
    assert drugs_for("amacrine_narrow", retina) == ("strychnine", "")
    drug, also = drugs_for("bipolar_on_sustained", retina)
    assert drug == "L-AP4 or APB" and also == "ON transient bipolar"
    assert drugs_for("bipolar_off_sustained", retina) == ("", "")


def test_pathway_activities_are_simulated_once_per_pass_cache(small_cnn, retina, stimulus, monkeypatch):
    recording = record_layer(small_cnn, stimulus, "bipolar")
    direct = PathwayMatch.of(recording, retina)
    calls = []
    simulate = retina.interneuron_activity
    monkeypatch.setattr(retina, "interneuron_activity", lambda *a, **k: calls.append(1) or simulate(*a, **k))
    with PassCache() as cache:
        first = PathwayMatch.of(recording, retina, cache=cache)
        PathwayMatch.of(record_layer(small_cnn, stimulus, "amacrine"), retina, cache=cache)
    np.testing.assert_array_equal(first.pathway_activity, direct.pathway_activity)
    assert len(calls) == 1
    PathwayMatch.of(recording, retina)  # without a cache: simulated again
    assert len(calls) == 2
