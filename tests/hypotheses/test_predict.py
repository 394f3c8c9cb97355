"""The CNN's predictions: changes of hand-picked channel sets checked against retina_control (the hook
path), the shuffles against a seeded permutation by hand, and the effect filters against z-scores by hand."""

import copy
import math

import numpy as np
import pytest
import torch

from retinacodec.control.experiments import retina_control
from retinacodec.control.recorded import record_layer
from retinacodec.hypotheses.candidates import Candidate
from retinacodec.hypotheses.effects import released_change
from retinacodec.hypotheses.predict import LayerPasses, predictions, set_changes, with_effect, with_release
from retinacodec.hypotheses.settings import HypothesisSettings

CLOSE = {"rtol": 1e-3, "atol": 1e-4}


@pytest.fixture(scope="module")
def deaf(small_cnn):
    """The small CNN whose amacrine convolution never reads bipolar channel 2: silencing it changes nothing."""
    model = copy.deepcopy(small_cnn)
    with torch.no_grad():
        model.amacrine[0].weight[:, 2] = 0.0
    return model


def passes_of(model, stimulus, layer="bipolar"):
    return LayerPasses(model, record_layer(model, stimulus, layer), layer)


def hand_z(change, baseline, cell_type, recording_s):
    """(set,) the largest type effect over its Poisson standard error, type means pooled over cells."""
    z = []
    for row in change:
        per_type = []
        for t in dict.fromkeys(cell_type):
            cells = cell_type == t
            delta, rate = row[cells].mean(), baseline[cells].mean()
            per_type.append(abs(delta) / math.sqrt((2 * rate + delta) / (recording_s * cells.sum())))
        z.append(max(per_type))
    return np.array(z)


def test_predictions_are_the_changes_retina_control_measures_and_a_release_keeps_only_rises(small_cnn, stimulus):
    chosen = [Candidate((0, 1), "first", [3], 0.25), Candidate((2,), "second", [1, 4], 0.5)]
    settings = HypothesisSettings(n_shuffles=2, seed=5)
    result = predictions(passes_of(small_cnn, stimulus), chosen, [False, True], settings)
    assert list(result["hypothesis"].values) == ["bipolar-0", "bipolar-1"]
    assert list(result["blocked_outputs"].values) == ["all", "inhibitory"]
    assert list(result["modes"].values) == ["3", "1, 4"] and list(result["mode_usage"].values) == [0.25, 0.5]
    rng = np.random.default_rng(5)  # the shuffles: each set mapped through one seeded permutation per shuffle
    permutations = [rng.permutation(4) for _ in range(2)]
    shuffled = [[sorted(int(p[c]) for c in item.channels) for item in chosen] for p in permutations]
    assert result["shuffled_channels"].values.tolist() == [[", ".join(map(str, s)) for s in row] for row in shuffled]
    sets = {"first": [0, 1], "second": [2]} | {
        f"{k}/{h}": s for k, row in enumerate(shuffled) for h, s in enumerate(row)
    }
    control = retina_control(small_cnn, stimulus, "bipolar", sets, progress=False)
    measured = control["rate_change"].sel(intervention="ablate")
    np.testing.assert_allclose(result["predicted_change"][0], measured.sel(selection="first"), **CLOSE)
    np.testing.assert_allclose(
        result["predicted_change"][1], released_change(measured.sel(selection="second")), **CLOSE
    )
    for k in range(2):
        np.testing.assert_allclose(result["shuffled_change"][k, 0], measured.sel(selection=f"{k}/0"), **CLOSE)
        np.testing.assert_allclose(
            result["shuffled_change"][k, 1], released_change(measured.sel(selection=f"{k}/1").values), **CLOSE
        )
    assert (result["predicted_change"][1] >= 0).all() and (result["predicted_change"][0] < 0).any()
    unperturbed = control["mean_rate"].sel(intervention="none").isel(selection=0)
    np.testing.assert_allclose(result["baseline_rate"], unperturbed, rtol=1e-4)
    cell_type = np.asarray(result["cell_type"].values, dtype=str)
    z = hand_z(result["predicted_change"].values, result["baseline_rate"].values, cell_type, 60.0)
    np.testing.assert_allclose(result["effect_z"], z, rtol=1e-9)
    np.testing.assert_allclose(result["detectability"], [math.erf(v / math.sqrt(2)) for v in z], rtol=1e-9)


def test_the_effect_filter_keeps_the_sets_that_change_some_type_visibly_and_else_the_largest(deaf, stimulus):
    passes = passes_of(deaf, stimulus)
    chosen = [Candidate((2,), "deaf"), Candidate((0, 1), "pair"), Candidate((3,), "single")]
    # the random CNN's changes are small (mHz): a long imagined recording makes them visible
    kept = with_effect(passes, chosen, HypothesisSettings(recording_s=1e6))
    assert [item.reason for item in kept] == ["pair", "single"]
    change, baseline = set_changes(passes, chosen, 0.0)
    np.testing.assert_allclose(change.values[0], 0.0, atol=1e-5)
    cell_type = np.asarray(baseline["cell_type"].values, dtype=str)
    z = hand_z(change.values, baseline.values, cell_type, 1e-6)
    assert z.max() < 2.0  # a recording of a microsecond sees nothing: the largest effect is kept alone
    largest = with_effect(passes, chosen, HypothesisSettings(recording_s=1e-6))
    assert [item.reason for item in largest] == [chosen[int(np.argmax(z))].reason]


def test_the_release_filter_keeps_the_sets_whose_inhibitory_block_raises_some_type_visibly(deaf, stimulus):
    passes = passes_of(deaf, stimulus)
    settings = HypothesisSettings(recording_s=1e6)
    assert with_release(passes, [], settings) == []
    chosen = [Candidate((c,), str(c)) for c in range(4)]
    silenced, baseline = set_changes(passes, chosen, 0.0)
    released, _ = set_changes(passes, chosen, 0.0, released=True)
    np.testing.assert_array_equal(released.values, released_change(silenced.values))
    cell_type = np.asarray(baseline["cell_type"].values, dtype=str)
    visible = hand_z(released.values, baseline.values, cell_type, 1e6) >= 2.0
    kept = [item.reason for item in with_release(passes, chosen, settings)]
    assert kept == [item.reason for item, seen in zip(chosen, visible) if seen]
    assert "2" not in kept and 0 < len(kept) < 4  # the deaf channel raises nothing; both cases are checked
