"""Loading, windows and prediction: views not copies, time alignment, round trips, bad input."""

import numpy as np
import pytest
import torch

from retinacodec.errors import RetinaCodecError
from retinacodec.io.checkpoints import save_checkpoint
from retinacodec.models.registry import load, predict, windows
from retinacodec.stimuli.base import make_stimulus


@pytest.fixture
def model(make_cnn):
    """Batch-norm running statistics moved off their defaults (eval mode)."""
    return make_cnn(
        cell_type=["on", "off", "oms"],
        cell_position=[[7, 8], [8, 7], [9, 9]],
        stimulus_mean=0.1,
        stimulus_std=0.5,
        warm=64,
    )


@pytest.fixture
def stimulus():
    frames = np.random.default_rng(0).uniform(-1, 1, size=(40, 16, 16))
    return make_stimulus(frames, kind="test")


def test_windows_is_a_view_that_matches_manual_slicing(model, stimulus):
    inputs, times = windows(model, stimulus)
    assert inputs.shape == (35, 6, 16, 16) and inputs.dtype == torch.float32
    # one normalised copy of the stimulus backs all windows (no per-window copy)
    assert inputs.untyped_storage().nbytes() == 40 * 16 * 16 * 4
    frames = stimulus.values
    for i in (0, 17, 34):
        expected = (frames[i : i + 6] - 0.1) / 0.5
        np.testing.assert_allclose(inputs[i].numpy(), expected, rtol=1e-6, atol=1e-6)
        # the last channel is the frame at the window's time
        t = int(np.flatnonzero(stimulus["time"].values == times[i])[0])
        np.testing.assert_allclose(inputs[i, -1].numpy(), (frames[t] - 0.1) / 0.5, atol=1e-6)
    assert times[0] == stimulus["time"].values[5]


def test_predict_labels_time_from_the_first_full_history_and_matches_forward(model, stimulus):
    rate = predict(model, stimulus, batch_size=7)
    assert rate.dims == ("time", "cell") and rate.attrs["units"] == "Hz"
    np.testing.assert_array_equal(rate["time"].values, stimulus["time"].values[5:])
    assert list(rate["cell_type"].values) == ["on", "off", "oms"]
    np.testing.assert_array_equal(rate["y"].values, [7, 8, 9])
    manual = np.stack([(stimulus.values[t - 5 : t + 1] - 0.1) / 0.5 for t in range(5, 40)])
    with torch.no_grad():
        expected = model(torch.as_tensor(manual, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(rate.values, expected, rtol=1e-5, atol=1e-5)


def test_predict_runs_in_eval_mode_and_restores_training_mode(model, stimulus):
    expected = predict(model, stimulus)
    model.train()
    np.testing.assert_array_equal(predict(model, stimulus).values, expected.values)
    assert model.training


def test_checkpoint_round_trip_gives_identical_predictions(model, stimulus, tmp_path):
    model.name = "tiny"
    save_checkpoint({"config": model.config(), "state_dict": model.state_dict()}, tmp_path / "model.pt")
    for source in (tmp_path / "model.pt", tmp_path, str(tmp_path / "model.pt")):
        loaded = load(source)
        assert not loaded.training and loaded.name == "tiny" and loaded.virtual_retina is None
        assert float(loaded.stimulus_std) == 0.5 and loaded.cell_type == ["on", "off", "oms"]
        np.testing.assert_array_equal(predict(loaded, stimulus).values, predict(model, stimulus).values)


@pytest.mark.parametrize(
    "frames, rate, message",
    [
        (np.zeros((40, 15, 16)), 100.0, "16 x 16"),
        (np.zeros((5, 16, 16)), 100.0, "at least 6"),
        (np.full((40, 16, 16), np.nan), 100.0, "NaN"),
        (np.zeros((40, 16, 16)), 50.0, "100 Hz"),
    ],
)
def test_bad_stimuli_raise(model, frames, rate, message):
    stimulus = make_stimulus(np.nan_to_num(frames), frame_rate_hz=rate, kind="test")
    if np.isnan(frames).any():
        stimulus = stimulus.copy(data=frames.astype(np.float32))
    for call in (predict, windows):
        with pytest.raises(RetinaCodecError, match=message):
            call(model, stimulus)


def test_missing_corrupt_or_foreign_checkpoints_raise(tmp_path, make_cnn):
    with pytest.raises(RetinaCodecError, match="not found"):
        load(tmp_path / "absent.pt")
    with pytest.raises(RetinaCodecError, match="unknown model"):
        load("no_such_model")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(RetinaCodecError, match="cannot read"):
        load(tmp_path / "corrupt.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(RetinaCodecError, match="not a retinacodec checkpoint"):
        load(tmp_path / "tensor.pt")
    mismatch = {"config": make_cnn(2).config(), "state_dict": make_cnn(3).state_dict()}
    save_checkpoint(mismatch, tmp_path / "mismatch.pt")
    with pytest.raises(RetinaCodecError, match="do not fit"):
        load(tmp_path / "mismatch.pt")
