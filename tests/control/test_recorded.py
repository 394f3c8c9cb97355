"""The recorded-layer fast path: the same rates as the hook path (retina_control, ablate) and as a
network with doubled weights, the convolution run once per batch against masked passes, and the pass
cache: passes reused while it is open, nothing held once it is closed, no state in the module."""

import copy

import numpy as np
import pytest
import torch

import retinacodec.control.recorded as recorded
from retinacodec.control.experiments import retina_control
from retinacodec.control.hooks import ablate
from retinacodec.control.recorded import PassCache, activity_at, record_layer, scaled_mean_rates
from retinacodec.errors import RetinaCodecError
from retinacodec.models.adapter import adapt
from retinacodec.models.registry import load, predict, windows
from retinacodec.stimuli import natural_jitter


@pytest.fixture(scope="module")
def model(tiny_model):
    """A random retina CNN (8-frame history, 4 + 4 channels) on the virtual retina's cells."""
    return load(tiny_model)


@pytest.fixture(scope="module")
def stimulus():
    return natural_jitter(n_frames=100, seed=21, progress=False)


SETS = [(), (0,), (1, 2), (3,), (0, 1, 2, 3)]


@pytest.mark.parametrize("layer", ["bipolar", "amacrine"])
def test_the_fast_path_gives_the_rates_of_the_hook_path(model, stimulus, layer):
    """The rates of scaled_mean_rates (the layer recorded once, the rest rerun per set) are those of
    retina_control (the whole network under the ablate hook) for every set, and those of a forward
    pass under ablate by hand."""
    fast = scaled_mean_rates(model, record_layer(model, stimulus, layer), layer, SETS)
    control = retina_control(model, stimulus, layer, {str(s): list(s) for s in SETS}, progress=False)
    hooked = control["mean_rate"].sel(intervention="ablate").values
    np.testing.assert_allclose(fast, hooked, rtol=1e-4, atol=1e-5)
    inputs, _ = windows(model, stimulus)
    with torch.no_grad(), ablate(model, layer, [1, 2]):
        by_hand = model(inputs).double().mean(0).numpy()
    np.testing.assert_allclose(fast[2], by_hand, rtol=1e-4, atol=1e-5)
    assert not np.allclose(fast[2], fast[0], rtol=1e-4, atol=1e-5)  # the sets change the rates


def test_scaling_the_bipolar_output_is_scaling_the_next_convolutions_input_weights(model, stimulus):
    fast = scaled_mean_rates(model, record_layer(model, stimulus, "bipolar"), "bipolar", [(0, 3)], gain=2.0)
    twice = copy.deepcopy(model)
    with torch.no_grad():
        twice.amacrine[0].weight[:, [0, 3]] *= 2.0
    np.testing.assert_allclose(fast[0], predict(twice, stimulus).values.mean(axis=0), rtol=1e-4, atol=1e-5)


def test_layer_activity_at_a_pixel_is_the_forward_pass_output_at_the_centred_map_position(model, stimulus):
    positions = np.array([[19, 31], [25, 25], [30, 20]])
    for layer, offset in (("bipolar", 7), ("amacrine", 12)):  # (15 - 1) / 2 and that + (11 - 1) / 2
        recorded_activity = activity_at(record_layer(model, stimulus, layer), positions)
        inputs, _ = windows(model, stimulus)
        with torch.no_grad():
            direct = adapt(model).capture(inputs[:20].contiguous(), layer).activation.numpy()
        expected = direct[:, :, positions[:, 0] - offset, positions[:, 1] - offset]
        np.testing.assert_allclose(recorded_activity[:20], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(RetinaCodecError, match="outside the layer's 26 x 26 map"):
        activity_at(record_layer(model, stimulus, "amacrine"), np.array([[5, 25]]))


@pytest.mark.parametrize("gain", [0.0, 2.0])
def test_convolution_run_once_per_batch_gives_the_masked_passes_rates(model, stimulus, gain, monkeypatch):
    adapted = adapt(model)
    assert recorded.leading_convolution(adapted.downstream("bipolar").steps) is not None
    assert recorded.leading_convolution(adapted.downstream("amacrine").steps) is None
    recording = record_layer(model, stimulus, "bipolar")
    linear = scaled_mean_rates(model, recording, "bipolar", SETS, gain, batch_size=7)
    monkeypatch.setattr(recorded, "leading_convolution", lambda steps: None)
    masked = scaled_mean_rates(model, recording, "bipolar", SETS, gain, batch_size=7)
    np.testing.assert_allclose(linear, masked, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(linear[0], recording.rates.values.mean(axis=0), rtol=1e-5)
    assert not np.allclose(linear[1], linear[0])


def test_the_pass_cache_reuses_passes_while_open_and_holds_nothing_once_closed(model, stimulus, monkeypatch):
    sets = [(0,), (1, 2), (0,)]
    alone = scaled_mean_rates(model, record_layer(model, stimulus, "bipolar"), "bipolar", sets)
    calls = {"predict": 0, "sets": []}
    original = recorded._linear_mean_rates

    def counted_predict(*args, **kwargs):
        calls["predict"] += 1
        return predict(*args, **kwargs)

    monkeypatch.setattr(recorded, "predict", counted_predict)
    monkeypatch.setattr(recorded, "_linear_mean_rates", lambda *a, **k: calls["sets"].extend(a[3]) or original(*a, **k))
    with PassCache() as cache:
        first = record_layer(model, stimulus, "bipolar", cache=cache)
        again = record_layer(model, stimulus.copy(deep=True), "bipolar", cache=cache)  # the same frames
        shared = scaled_mean_rates(model, again, "bipolar", sets, cache=cache)
        repeated = scaled_mean_rates(model, first, "bipolar", sets[:2], cache=cache)
        other = record_layer(model, stimulus.isel(time=slice(1, None)), "bipolar", cache=cache)
        doubled = scaled_mean_rates(model, first, "bipolar", sets[:1], gain=2.0, cache=cache)  # another key
        held = len(cache)
    assert again is first and other is not first and calls["predict"] == 2
    assert calls["sets"] == [(0,), (1, 2), (0,)]  # each set once per gain, the repeats from memory
    np.testing.assert_array_equal(shared, alone)
    np.testing.assert_array_equal(shared[0], shared[2])
    np.testing.assert_array_equal(repeated, shared[:2])
    assert not np.allclose(doubled[0], shared[0])
    assert held == 5 and len(cache) == 0 and cache.closed  # 2 recordings, 3 rates; all dropped
    with pytest.raises(RetinaCodecError, match="the pass cache is closed"):
        record_layer(model, stimulus, "bipolar", cache=cache)
    assert record_layer(model, stimulus, "bipolar") is not first  # no cache: nothing kept between calls
    assert calls["predict"] == 3


def test_the_module_holds_no_mutable_state():
    state = {name: value for name, value in vars(recorded).items() if not name.startswith("__")}
    assert not [name for name, value in state.items() if isinstance(value, (list, dict, set))]
