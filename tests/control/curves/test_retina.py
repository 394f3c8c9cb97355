"""Control curves: every point checked against retina_control run on the same channels, and the
summary against hand-made curves."""

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.control.curves.retina import CurveSettings, curve_summary, retina_control_curves
from retinacodec.control.experiments import retina_control
from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import white_noise


@pytest.fixture(scope="module")
def model(make_cnn):
    cnn = make_cnn(4, history=10, amacrine_channels=4, cell_type=["on", "off", "on", "off"])
    with torch.no_grad():
        cnn.ganglion[2].weight.mul_(4.0)
    return cnn


@pytest.fixture(scope="module")
def stimulus():
    return white_noise(n_frames=60, size=16, seed=2)


RANKINGS = {
    "contribution": {"on": [2, 0, 1, 3], "off": [1, 3, 0, 2]},
    "activation": {"on": [3, 2, 1, 0], "off": [0, 1, 2, 3]},
}


def test_each_point_is_the_rate_change_retina_control_measures(model, stimulus):
    settings = CurveSettings(max_channels=3, n_random=4, seed=1)
    curves = retina_control_curves(model, stimulus, "bipolar", RANKINGS, settings, progress=False)
    assert list(curves["k"].values) == [1, 2, 3] and list(curves["selection"].values) == [
        "contribution",
        "activation",
        "random",
    ]
    sets = {f"{s}/{t}/{k}": RANKINGS[s][t][:k] for s in RANKINGS for t in ("on", "off") for k in (1, 2, 3)}
    control = retina_control(model, stimulus, "bipolar", sets, progress=False)
    baseline = control["mean_rate"].sel(intervention="none").isel(selection=0).values
    on = np.array([True, False, True, False])
    for name, channels in sets.items():
        selection, target, k = name.split("/")
        mask = on if target == "on" else ~on
        for intervention in ("ablate", "preserve"):
            change = control["rate_change"].sel(selection=name, intervention=intervention).values
            point = curves.sel(selection=selection, target=target, k=int(k), intervention=intervention)
            assert float(point["on_target_change"]) == pytest.approx(change[mask].mean(), abs=1e-4)
            assert float(point["off_target_change"]) == pytest.approx(change[~mask].mean(), abs=1e-4)
            relative = np.abs(change) / baseline
            sign = 1 if intervention == "ablate" else -1
            expected = sign * (relative[mask].mean() - relative[~mask].mean())
            assert float(point["specificity"]) == pytest.approx(expected, abs=1e-4)
            assert float(point["on_target_change_se"]) == pytest.approx(change[mask].std(ddof=1) / np.sqrt(2), abs=1e-4)
        assert str(curves["channels"].sel(selection=selection, target=target, k=int(k)).values) == ", ".join(
            map(str, sorted(channels))
        )
    assert np.abs(curves["on_target_change"]).max() > 0.01  # not a comparison of zeros
    random = curves.sel(selection="random")
    assert (
        np.isfinite(random["specificity_spread"]).all()
        and np.isnan(curves["specificity_spread"].sel(selection="contribution")).all()
    )


def test_curves_refuse_rankings_of_other_targets(model, stimulus):
    with pytest.raises(RetinaCodecError, match="same targets"):
        retina_control_curves(model, stimulus, "bipolar", {"a": {"on": [0]}, "b": {"off": [0]}}, progress=False)
    with pytest.raises(RetinaCodecError, match="same targets"):
        retina_control_curves(model, stimulus, "bipolar", {"a": {"oms": [0]}}, progress=False)


def test_curve_settings_are_plain_integers_in_range():
    settings = CurveSettings(max_channels=np.int64(3), n_random=0)
    assert type(settings.max_channels) is int and (settings.n_random, settings.seed, settings.batch_size) == (0, 0, 500)
    with pytest.raises(RetinaCodecError, match="max_channels is 0; expected an integer >= 1"):
        CurveSettings(max_channels=0)
    with pytest.raises(RetinaCodecError, match="n_random is -1; expected an integer >= 0"):
        CurveSettings(n_random=-1)
    with pytest.raises(RetinaCodecError, match=r"batch_size is 2.5 \(float\)"):
        CurveSettings(batch_size=2.5)


def test_summary_counts_where_the_reference_is_more_specific():
    values = np.array([[[[0.3, 0.2]], [[0.1, 0.25]], [[0.0, 0.0]]]])  # (target, selection, intervention, k)
    curves = xr.Dataset(
        {
            "specificity": (("target", "selection", "intervention", "k"), values),
            "specificity_se": (("target", "selection", "intervention", "k"), np.full(values.shape, 0.1)),
        },
        coords={
            "target": ["on"],
            "selection": ["contribution", "activation", "random"],
            "intervention": ["ablate"],
            "k": [1, 2],
        },
        attrs={"kind": "retina_control_curves"},
    )
    summary = curve_summary(curves).sel(intervention="ablate")
    np.testing.assert_allclose(summary["mean_specificity"], [0.25, 0.175, 0.0])
    np.testing.assert_allclose(summary["wins"].sel(selection=["activation", "random"]), [0.5, 1.0])
    assert bool(summary["beats"].sel(selection="activation")) and bool(summary["beats"].sel(selection="random"))
    assert float(summary["mean_specificity_se"].sel(selection="random")) == pytest.approx(np.sqrt(2) * 0.1 / 2)


def test_curves_figure(model, stimulus, tmp_path):
    from matplotlib.image import imread

    from retinacodec.plots import save_figure
    from retinacodec.plots.control import plot_control_curves

    settings = CurveSettings(max_channels=2, n_random=3)
    curves = retina_control_curves(model, stimulus, "amacrine", RANKINGS, settings, progress=False)
    save_figure(plot_control_curves(curves), tmp_path / "curves.png")
    assert imread(tmp_path / "curves.png").std() > 0.01
