"""Training: the loss falls on a simulated LN retina, resuming matches an uninterrupted run, the
recipe pipeline writes a loadable model folder, and the shipped default meets its accuracy claim."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.models.registry import MODELS_DIR, load, predict
from retinacodec.models.training import (
    TrainingSettings,
    evaluate_on_virtual_retina,
    train_from_recipe,
    train_model,
)
from retinacodec.models.training.loop import group_spread
from retinacodec.stimuli.base import make_stimulus

ARCH = dict(history=6, bipolar_kernel=5, amacrine_kernel=3, bipolar_channels=4, amacrine_channels=4)
FAST = dict(segment_windows=24, batch_segments=4, learning_rate=3e-3)


def ln_retina(n_frames=900, seed=0):
    """White noise and the rates of three linear-nonlinear cells (centre-surround, 5-frame filter)."""
    rng = np.random.default_rng(seed)
    frames = rng.choice([-1.0, 1.0], size=(n_frames, 16, 16)).astype(np.float32)
    ys, xs = np.mgrid[:16, :16]
    temporal = np.array([0.0, -0.3, 0.2, 0.6, 1.0])  # weight of lags 4..0 frames back
    drive = []
    for cy, cx, sign in [(7, 7, 1.0), (8, 9, -1.0), (9, 7, 1.0)]:
        r2 = (ys - cy) ** 2 + (xs - cx) ** 2
        spatial = np.exp(-r2 / 2.0) - 0.3 * np.exp(-r2 / 8.0)
        g = np.tensordot(frames, spatial, axes=([1, 2], [0, 1]))
        drive.append(sign * np.convolve(g, temporal[::-1])[:n_frames])
    drive = np.stack(drive, axis=1)
    rates = 20.0 * np.log1p(np.exp(drive / drive.std() - 0.5))
    responses = xr.DataArray(
        rates,
        dims=("time", "cell"),
        coords={"cell_type": ("cell", ["on", "off", "on"]), "y": ("cell", [7, 8, 9]), "x": ("cell", [7, 9, 7])},
    )
    return make_stimulus(frames, kind="white_noise", seed=seed), responses


def test_short_training_lowers_the_loss_and_learns_the_cells():
    stimulus, responses = ln_retina()
    model, log = train_model(
        stimulus, responses, architecture=ARCH, progress=False, settings=TrainingSettings(epochs=4, **FAST)
    )
    assert log["train_loss"][-1] < log["train_loss"][0]
    assert log["validation_loss"][-1] < log["validation_loss"][0]
    assert log["validation_r"][-1] > log["validation_r"][0]
    assert not model.training and model.cell_type == ["on", "off", "on"]
    np.testing.assert_array_equal(model.cell_position, [[7, 7], [8, 9], [9, 7]])
    fresh, truth = ln_retina(n_frames=300, seed=1)
    r = [np.corrcoef(predict(model, fresh).values[:, c], truth.values[5:, c])[0, 1] for c in range(3)]
    assert min(r) > 0.3  # an untrained network gives r near 0 for these cells


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    stimulus, responses = ln_retina(n_frames=500)
    kwargs = dict(architecture=ARCH, progress=False)
    straight, straight_log = train_model(
        stimulus, responses, settings=TrainingSettings(epochs=2, **FAST), output_dir=tmp_path / "straight", **kwargs
    )
    # "interrupted" after one epoch: its last.pt is all a rerun has to go on
    train_model(stimulus, responses, settings=TrainingSettings(epochs=1, **FAST), output_dir=tmp_path / "cut", **kwargs)
    resumed, log = train_model(
        stimulus, responses, settings=TrainingSettings(epochs=2, **FAST), output_dir=tmp_path / "cut", **kwargs
    )
    assert log["resumed_from_epoch"] == 1 and len(log["train_loss"]) == 2
    np.testing.assert_allclose(log["validation_loss"], straight_log["validation_loss"], rtol=1e-6)
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-6, atol=1e-7)
    reloaded = load(tmp_path / "cut")
    np.testing.assert_array_equal(predict(reloaded, stimulus).values, predict(resumed, stimulus).values)
    other, other_responses = ln_retina(n_frames=500, seed=3)
    with pytest.raises(RetinaCodecError, match="another output folder or resume=False"):
        train_model(
            other, other_responses, settings=TrainingSettings(epochs=3, **FAST), output_dir=tmp_path / "cut", **kwargs
        )


def test_a_checkpoint_written_before_a_setting_existed_resumes_at_its_default(tmp_path):
    stimulus, responses = ln_retina(n_frames=500)
    kwargs = dict(architecture=ARCH, progress=False)
    train_model(stimulus, responses, settings=TrainingSettings(epochs=1, **FAST), output_dir=tmp_path, **kwargs)
    last = tmp_path / "last.pt"
    state = torch.load(last, weights_only=False)
    del state["identity"]["settings"]["amacrine_input_sparsity"]  # as a run of an older version wrote it
    torch.save(state, last)
    _, log = train_model(
        stimulus, responses, settings=TrainingSettings(epochs=2, **FAST), output_dir=tmp_path, **kwargs
    )
    assert log["resumed_from_epoch"] == 1 and len(log["train_loss"]) == 2
    state = torch.load(last, weights_only=False)
    del state["identity"]["settings"]["amacrine_input_sparsity"]
    torch.save(state, last)
    with pytest.raises(RetinaCodecError, match="another output folder or resume=False"):  # not what that run did
        train_model(
            stimulus,
            responses,
            settings=TrainingSettings(epochs=3, amacrine_input_sparsity=0.1, **FAST),
            output_dir=tmp_path,
            **kwargs,
        )


def test_rank_limited_bipolar_kernels_train_resume_and_save_as_plain_kernels(tmp_path):
    stimulus, responses = ln_retina(n_frames=500)
    kwargs = dict(architecture=ARCH, progress=False)
    settings = TrainingSettings(epochs=2, bipolar_rank=1, **FAST)
    model, log = train_model(stimulus, responses, settings=settings, output_dir=tmp_path / "straight", **kwargs)
    kernels = model.bipolar[0].weight.detach()
    assert type(model.bipolar[0]) is torch.nn.Conv2d  # the constraint is gone from the saved model
    ranks = [int(torch.linalg.matrix_rank(k.reshape(k.shape[0], -1))) for k in kernels]
    assert ranks == [1] * len(ranks)  # each channel: one temporal filter times one spatial kernel
    assert log["validation_loss"][-1] < log["validation_loss"][0]
    train_model(
        stimulus,
        responses,
        settings=TrainingSettings(epochs=1, bipolar_rank=1, **FAST),
        output_dir=tmp_path / "cut",
        **kwargs,
    )
    resumed, _ = train_model(stimulus, responses, settings=settings, output_dir=tmp_path / "cut", **kwargs)
    torch.testing.assert_close(resumed.bipolar[0].weight, model.bipolar[0].weight, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(predict(load(tmp_path / "cut"), stimulus).values, predict(resumed, stimulus).values)
    with pytest.raises(RetinaCodecError, match="bipolar_rank"):
        TrainingSettings(bipolar_rank=-1)


@pytest.mark.parametrize("readout", ["dense", "factorized"])
def test_dale_constrained_amacrine_signs_hold_and_silencing_an_inhibitory_channel_only_raises_rates(tmp_path, readout):
    stimulus, responses = ln_retina(n_frames=500)
    architecture = {**ARCH, "readout": readout}
    settings = TrainingSettings(epochs=2, inhibitory_channels=1, **FAST)
    model, log = train_model(
        stimulus,
        responses,
        architecture=architecture,
        settings=settings,
        output_dir=tmp_path / "straight",
        progress=False,
    )
    assert type(model.amacrine[0]) is torch.nn.Conv2d  # the constraint is gone from the saved model
    assert (model.amacrine[0].weight >= 0).all() and (model.amacrine[1].weight >= 0).all()
    assert (model.ganglion[-2].weight >= 0).all()
    channels = model.architecture["amacrine_channels"]
    if readout == "dense":
        weights = model.ganglion[1].weight.detach().reshape(model.n_cells, channels, -1)
    else:
        assert (model.ganglion[0].mask >= 0).all()
        weights = model.ganglion[0].features.detach()[..., None]
    assert (weights[:, :-1] >= 0).all() and (weights[:, -1] <= 0).all() and (weights[:, -1] < 0).any()
    windows = torch.randn(64, model.history, model.size, model.size)
    with torch.no_grad():
        amacrine = model.amacrine(model.bipolar(windows))
        silenced = amacrine.clone()
        silenced[:, -1] = 0
        assert (model.ganglion(silenced) >= model.ganglion(amacrine) - 1e-6).all()
    train_model(
        stimulus,
        responses,
        architecture=architecture,
        settings=TrainingSettings(epochs=1, inhibitory_channels=1, **FAST),
        output_dir=tmp_path / "cut",
        progress=False,
    )
    resumed, _ = train_model(
        stimulus, responses, architecture=architecture, settings=settings, output_dir=tmp_path / "cut", progress=False
    )
    np.testing.assert_array_equal(predict(resumed, stimulus).values, predict(model, stimulus).values)
    np.testing.assert_array_equal(predict(load(tmp_path / "cut"), stimulus).values, predict(model, stimulus).values)
    with pytest.raises(RetinaCodecError, match="inhibitory_channels is 9"):
        train_model(
            stimulus,
            responses,
            architecture=architecture,
            progress=False,
            settings=TrainingSettings(epochs=1, inhibitory_channels=9, **FAST),
        )
    with pytest.raises(RetinaCodecError, match="inhibitory_channels"):
        TrainingSettings(inhibitory_channels=-1)


@pytest.mark.parametrize("readout", ["dense", "factorized"])
def test_readout_channel_sparsity_has_each_cell_read_fewer_channels(readout):
    stimulus, responses = ln_retina(n_frames=500)
    architecture = {**ARCH, "readout": readout}

    def spread(sparsity: float) -> float:
        settings = TrainingSettings(epochs=4, readout_channel_sparsity=sparsity, **{**FAST, "learning_rate": 2e-2})
        model, _ = train_model(stimulus, responses, architecture=architecture, progress=False, settings=settings)
        norms = model.readout_channel_norms().detach()
        return float((norms.sum(1) / norms.norm(dim=1)).mean())

    model, _ = train_model(
        stimulus, responses, architecture=architecture, progress=False, settings=TrainingSettings(epochs=1, **FAST)
    )
    channels = model.architecture["amacrine_channels"]
    if readout == "dense":
        by_hand = model.ganglion[1].weight.reshape(model.n_cells, channels, -1).norm(dim=2)
    else:
        by_hand = model.ganglion[0].features.abs() * model.ganglion[0].mask.flatten(1).norm(dim=1)[:, None]
    torch.testing.assert_close(model.readout_channel_norms(), by_hand)
    assert spread(0.5) < spread(0.0) - 0.1
    with pytest.raises(RetinaCodecError, match="readout_channel_sparsity"):
        TrainingSettings(readout_channel_sparsity=-1.0)


def test_amacrine_input_sparsity_has_each_amacrine_channel_pool_fewer_bipolar_channels():
    stimulus, responses = ln_retina(n_frames=500)

    def spread(sparsity: float) -> float:
        settings = TrainingSettings(epochs=4, amacrine_input_sparsity=sparsity, **{**FAST, "learning_rate": 2e-2})
        model, _ = train_model(stimulus, responses, architecture=ARCH, progress=False, settings=settings)
        return float(group_spread(model.amacrine_input_norms().detach()))

    model, _ = train_model(
        stimulus, responses, architecture=ARCH, progress=False, settings=TrainingSettings(epochs=1, **FAST)
    )
    weight = model.amacrine[0].weight
    by_hand = torch.stack(
        [
            torch.stack([weight[a, b].pow(2).sum().sqrt() for b in range(weight.shape[1])])
            for a in range(weight.shape[0])
        ]
    )
    torch.testing.assert_close(model.amacrine_input_norms(), by_hand)
    one_each = torch.eye(3)
    alike = torch.ones(2, 4)
    torch.testing.assert_close(group_spread(one_each), torch.tensor(1.0))
    torch.testing.assert_close(group_spread(alike), torch.tensor(2.0))
    assert spread(0.5) < spread(0.0) - 0.1
    with pytest.raises(RetinaCodecError, match="amacrine_input_sparsity"):
        TrainingSettings(amacrine_input_sparsity=-1.0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s, r: (s, r.isel(time=slice(1, None))), "one response per frame"),
        (lambda s, r: (s, -r), "negative"),
        (lambda s, r: (s.isel(time=slice(0, 30)), r.isel(time=slice(0, 30))), "longer recording"),
        (lambda s, r: ([s, s], [r]), "one response per stimulus"),
    ],
)
def test_bad_training_data_raise(change, message):
    stimulus, responses = ln_retina(n_frames=200)
    stimulus, responses = change(stimulus, responses)
    with pytest.raises(RetinaCodecError, match=message):
        train_model(stimulus, responses, architecture=ARCH, settings=TrainingSettings(**FAST), progress=False)


def test_bad_settings_raise():
    with pytest.raises(RetinaCodecError, match="positive integer"):
        TrainingSettings(epochs=0)
    with pytest.raises(RetinaCodecError, match="unknown training settings"):
        TrainingSettings.from_dict({"epoch": 3})


def test_recipe_trains_a_loadable_model_with_its_virtual_retina(tmp_path):
    from retinacodec.models.virtual_retina import VirtualRetina

    (tmp_path / "virtual_retina.json").write_text(json.dumps(VirtualRetina().to_dict()))
    (tmp_path / "recipe.toml").write_text("""
name = "tiny"
[data]
virtual_retina = "virtual_retina.json"
[[data.stimuli]]
kind = "white_noise"
parameters = { n_frames = 400, size = 36, seed = 1 }
[architecture]
history = 6
bipolar_kernel = 5
amacrine_kernel = 3
bipolar_channels = 2
amacrine_channels = 2
[training]
epochs = 1
segment_windows = 32
[evaluation]
n_frames = 60
seed = 5
""")
    result = train_from_recipe(tmp_path / "recipe.toml", tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "recipe.toml").is_file() and (tmp_path / "out" / "evaluation.nc").is_file()
    model = load(tmp_path / "out")
    assert model.name == "tiny" and model.virtual_retina is not None
    assert model.cell_type == list(VirtualRetina().cells["cell_type"].values)
    assert result.evaluation["pearson_r"].sizes["cell"] == model.n_cells
    assert "| all |" in result.summary()
    (tmp_path / "bad.toml").write_text("[data]\nsource = 'tape'\n")
    with pytest.raises(RetinaCodecError, match="virtual_retina"):
        train_from_recipe(tmp_path / "bad.toml", tmp_path / "out2", progress=False)


def test_recipe_trains_on_an_nwb_recording(tmp_path):
    from retinacodec.io import write_nwb

    stimulus, rates = ln_retina(n_frames=400)
    counts = np.random.default_rng(2).poisson(rates.values / 100.0)
    spike_times = [np.repeat(stimulus["time"].values, counts[:, c]) + 0.005 for c in range(3)]
    write_nwb(tmp_path / "recording.nwb", stimulus, spike_times, cell_type=["on", "off", "on"])
    (tmp_path / "recipe.toml").write_text("""
[data]
source = "nwb"
path = "recording.nwb"
[architecture]
history = 6
bipolar_kernel = 5
amacrine_kernel = 3
[training]
epochs = 1
segment_windows = 24
""")
    result = train_from_recipe(tmp_path / "recipe.toml", tmp_path / "out", progress=False)
    model = load(tmp_path / "out")
    assert result.evaluation is None and model.virtual_retina is None
    assert model.cell_type == ["on", "off", "on"] and model.name == tmp_path.name
    # the targets were spike counts per frame turned into Hz: predicted rates are on the Hz scale
    predicted = predict(model, stimulus).values.mean(axis=0)
    np.testing.assert_allclose(predicted, rates.values.mean(axis=0), rtol=0.5)


@pytest.mark.skipif(not (MODELS_DIR / "default" / "model.pt").is_file(), reason="default model not built")
def test_default_model_predicts_its_virtual_retina_on_fresh_natural_jitter():
    model = load("default")
    scores = evaluate_on_virtual_retina(model, n_frames=1000, seed=4321)
    assert float(scores["pearson_r"].mean()) >= 0.8
