"""Test stimuli designed per hypothesis, and their check on the virtual retina."""

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.control.recorded import record_layer, scaled_mean_rates
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.design import (
    DESIGN_KIND,
    Intervention,
    TypeEffect,
    design_tests,
    detectability,
    interventions,
    predicted_under,
)
from retinacodec.hypotheses.design_check import check_designs, signed_z, target_z
from retinacodec.hypotheses.generate import KIND
from retinacodec.hypotheses.optimise import DesignSettings
from retinacodec.models.registry import predict
from retinacodec.stimuli import natural_jitter

SETTINGS = DesignSettings(n_frames=40, steps=6, learning_rate=0.1, seed=1)


def _hypotheses(model, blocks=("amacrine_wide", "bipolar_on_sustained")):
    """Two hand-made hypotheses on the model's cells: one aims at OMS cells going up, one changes nothing."""
    cell_type = np.asarray(model.cell_type)
    types = list(dict.fromkeys(cell_type))
    category = np.zeros((2, len(types)), dtype=np.int8)
    category[0, types.index("oms")] = 1
    effect = np.zeros((2, len(types)))
    effect[1, types.index("off")] = 0.5  # a release: rises only
    return xr.Dataset(
        {
            "layer": ("hypothesis", ["amacrine", "bipolar"]),
            "channels": ("hypothesis", ["1, 2", "0"]),
            "blocked_outputs": ("hypothesis", ["all", "inhibitory"]),
            "predicted_category": (("hypothesis", "type"), category),
            "predicted_effect": (("hypothesis", "type"), effect),
            "block": ("hypothesis", list(blocks)),
        },
        coords={
            "hypothesis": ["amacrine-0", "bipolar-0"],
            "type": types,
            "cell": np.arange(cell_type.size),
            "cell_type": ("cell", cell_type),
        },
        attrs={"kind": KIND, "gain": 0.0, "recording_s": 60.0, "model_history": model.history, "model": "small"},
    )


@pytest.fixture(scope="module")
def designed(small_cnn):
    jitter = natural_jitter(n_frames=SETTINGS.n_frames, seed=31, progress=False)
    return design_tests(small_cnn, _hypotheses(small_cnn), SETTINGS, jitter=jitter, progress=False), jitter


def test_interventions_aim_at_the_predicted_types_or_the_largest_effect(small_cnn):
    first, second = interventions(_hypotheses(small_cnn))
    types = list(dict.fromkeys(small_cnn.cell_type))
    assert first.channels == (1, 2) and first.layer == "amacrine" and not first.released
    assert list(np.flatnonzero(first.target)) == [types.index("oms")] and first.target.max() == 1
    assert second.released and list(second.target) == [1 if t == "off" else 0 for t in types]


def test_type_effect_is_the_models_mean_rates_and_the_hypotheses_change(small_cnn, stimulus):
    """Without window draws, the unperturbed rates are predict()'s and the change is the one the
    hypotheses' predictions use (scaled_mean_rates on the recorded layer)."""
    effect = TypeEffect(small_cnn, small_cnn.cell_type, 60.0)
    item = Intervention("amacrine", (1, 2), 0.0, False, np.zeros(4, dtype=np.int8))
    with torch.no_grad():
        change, _, z, baseline = effect(torch.as_tensor(stimulus.values), item)
    np.testing.assert_allclose(baseline.numpy(), predict(small_cnn, stimulus).values.mean(0), rtol=1e-4, atol=1e-5)
    recording = record_layer(small_cnn, stimulus, "amacrine", 50, False)
    expected = scaled_mean_rates(small_cnn, recording, "amacrine", [(1, 2)], 0.0)[0] - baseline.numpy()
    np.testing.assert_allclose(change.numpy(), expected, rtol=1e-3, atol=1e-4)


def test_detectability_by_hand():
    z = torch.tensor([3.0, -4.0, 0.0, 2.0])
    target = np.array([1, -1, 0, 0])
    expected = (3.0 + 4.0) / 2 - (np.sqrt(1.0) + np.sqrt(5.0)) / 2
    assert float(detectability(z, target)) == pytest.approx(expected)
    assert float(detectability(z, np.array([1, -1, 1, 1]))) == pytest.approx((3 + 4 + 0 + 2) / 4)


def test_designs_are_in_bounds_beat_jitter_in_the_cnn_and_repeat_with_the_seed(small_cnn, designed):
    designs, jitter = designed
    assert designs.attrs["kind"] == DESIGN_KIND and designs["test_stimulus"].shape == (2, 40, 50, 50)
    deviation = designs["test_stimulus"].values - float(small_cnn.stimulus_mean)
    assert np.abs(deviation).max() < SETTINGS.max_contrast
    assert np.sqrt((deviation**2).mean(axis=(1, 2, 3))).max() <= SETTINGS.rms_contrast + 1e-5
    assert (designs["designed_detectability"] > designs["jitter_detectability"]).all()
    assert designs.attrs["design_seed"] == 1 and designs.attrs["jitter_seed"] == 31
    again = design_tests(small_cnn, _hypotheses(small_cnn), SETTINGS, jitter=jitter, progress=False)
    assert np.array_equal(again["test_stimulus"].values, designs["test_stimulus"].values)
    assert all(p.requires_grad for p in small_cnn.parameters())  # the model's flags are restored


def test_predicted_under_the_design_matches_its_stored_prediction(small_cnn, designed):
    designs, _ = designed
    item = interventions(_hypotheses(small_cnn))[0]
    stimulus = designs["test_stimulus"].isel(hypothesis=0).drop_vars("hypothesis")
    again = predicted_under(TypeEffect(small_cnn, small_cnn.cell_type, 60.0), stimulus, item)
    np.testing.assert_allclose(again["z"], designs["designed_z"].values[0], rtol=1e-5)


def test_signed_z_and_target_z_by_hand():
    cells = {"cell_type": ("cell", ["a", "a", "b"])}
    change = xr.DataArray([1.0, 1.0, -2.0], dims="cell", coords=cells)
    baseline = xr.DataArray([10.0, 10.0, 8.0], dims="cell", coords=cells)
    z = signed_z(change, baseline, 10.0)
    assert float(z.sel(type="a")) == pytest.approx(1.0 / np.sqrt(21.0 / 20.0))
    assert float(z.sel(type="b")) == pytest.approx(-2.0 / np.sqrt(14.0 / 10.0))
    target = xr.DataArray([[0, -1]], dims=("hypothesis", "type"), coords={"type": ["a", "b"]})
    assert float(target_z(z, target)[0]) == pytest.approx(2.0 / np.sqrt(1.4))


def test_check_on_the_virtual_retina_gives_each_effect_and_the_ratio(small_cnn, designed, retina):
    designs, jitter = designed
    hypotheses = _hypotheses(small_cnn)
    checked = check_designs(designs, hypotheses, retina, jitter, progress=False)
    ratio = checked["observed_designed_target_z"] / checked["observed_jitter_target_z"]
    np.testing.assert_allclose(checked["observed_ratio"].values, ratio.values)
    for name in ("designed", "jitter"):  # the first hypothesis aims at the OMS cells alone, going up
        oms = checked[f"observed_{name}_z"].sel(type="oms").values[0]
        assert checked[f"observed_{name}_target_z"].values[0] == pytest.approx(oms)
        assert np.isfinite(checked[f"observed_{name}_z"].values).all()
    with pytest.raises(RetinaCodecError, match="frames"):
        check_designs(designs, hypotheses, retina, jitter.isel(time=slice(0, 30)), progress=False)
    with pytest.raises(RetinaCodecError, match="name no pathway"):
        check_designs(designs, _hypotheses(small_cnn, blocks=("", "")), retina, jitter, progress=False)
