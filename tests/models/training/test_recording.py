"""Training from recordings written the way a rig writes them (virtual retina, pynwb, spikes only)."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.bench.rig import record_full_field, record_white_noise
from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_nwb
from retinacodec.models.registry import load, predict
from retinacodec.models.training import train_nwb
from retinacodec.models.training.data import find_repeats
from retinacodec.models.training.evaluate import evaluate_recording
from retinacodec.models.training.recording import check_recording, recording_architecture, split_recording

QUICK = dict(epochs=2, patience=2, learning_rate=3e-3, batch_segments=8, segment_windows=32)


@pytest.fixture(scope="module")
def white_noise_file(tmp_path_factory):
    return record_white_noise(tmp_path_factory.mktemp("rig") / "wn.nwb", minutes=2.2, seed=3, size=20)


@pytest.fixture(scope="module")
def full_field_file(tmp_path_factory):
    return record_full_field(tmp_path_factory.mktemp("rig") / "ff.nwb", minutes=2.5, seed=4, n_repeats=5, repeat_s=4.0)


def test_architecture_follows_the_frames_and_the_frame_rate():
    def frames(size, rate):
        return xr.DataArray(np.zeros((100, size, size)), dims=("time", "y", "x"), attrs={"frame_rate_hz": rate})

    assert recording_architecture(frames(50, 100.0)) == dict(
        history=40, bipolar_kernel=15, amacrine_kernel=11, readout="factorized"
    )
    assert recording_architecture(frames(1, 75.0))["history"] == 30  # 0.4 s at 75 Hz
    assert recording_architecture(frames(1, 75.0))["bipolar_kernel"] == 1
    small = recording_architecture(frames(20, 120.0), history_s=0.25)
    assert small["history"] == 30 and small["bipolar_kernel"] == 7 and small["amacrine_kernel"] == 5
    for bad in (float("nan"), float("inf"), -1.0, 0.0):
        with pytest.raises(RetinaCodecError, match="history_s is .*; expected a finite number > 0"):
            recording_architecture(frames(1, 75.0), history_s=bad)
    with pytest.raises(RetinaCodecError, match="history_s is 1e.09 s; expected at most the stimulus's duration"):
        recording_architecture(frames(1, 75.0), history_s=1e9)


def test_repeats_without_their_stimulus_are_refused(tiny_cnn):
    stimulus = xr.DataArray(
        np.zeros((12, 16, 16), np.float32),
        dims=("time", "y", "x"),
        coords={"time": np.arange(12) / 100.0},
        attrs={"frame_rate_hz": 100.0},
    )
    spikes = xr.DataArray(np.zeros((12, 3)), dims=("time", "cell"), coords={"time": stimulus["time"].values})
    repeats = xr.DataArray(np.zeros((2, 7, 3)), dims=("trial", "time", "cell"))
    assert "repeat_r" not in evaluate_recording({"cnn": tiny_cnn}, (stimulus, spikes))
    with pytest.raises(RetinaCodecError, match="repeats given without repeat_stimulus; expected the frozen segment"):
        evaluate_recording({"cnn": tiny_cnn}, (stimulus, spikes), repeats=repeats)


def test_repeats_are_found_from_identical_frames_and_match_the_trials_table(full_field_file):
    path, starts, length = full_field_file
    recording = read_nwb(path)
    found, frames = find_repeats(recording["stimulus"].values, 75.0)
    np.testing.assert_array_equal(found, starts)
    assert frames == length
    fresh = np.random.default_rng(0).normal(size=(2000, 3, 3)).astype(np.float32)
    assert find_repeats(fresh, 75.0)[1] == 0


def test_split_holds_out_the_end_and_the_repeats(full_field_file):
    path, starts, length = full_field_file
    recording = read_nwb(path)
    stimulus, spikes = recording["stimulus"], recording["spikes"]
    split = split_recording(stimulus, spikes)
    assert split.repeats.sizes["trial"] == len(starts) and split.repeats.sizes["time"] == length
    used = np.concatenate([np.searchsorted(stimulus["time"].values, s["time"].values) for s, _ in split.train])
    repeat_frames = np.concatenate([np.arange(s, s + length) for s in starts])
    assert not np.intersect1d(used, repeat_frames).size
    assert used.max() < int(round(0.9 * stimulus.sizes["time"]))
    np.testing.assert_array_equal(split.repeats.values[2], spikes.values[starts[2] : starts[2] + length])


@pytest.mark.slow
def test_white_noise_recording_trains_cnn_and_ln_and_writes_loadable_models(white_noise_file, tmp_path, monkeypatch):
    from retinacodec.models.training import recording as module

    monkeypatch.setattr(module, "EPOCH_BUDGET", 1.0)  # the fewest epochs (3)
    result = train_nwb(white_noise_file, tmp_path / "out", progress=False)
    evaluation = result.evaluation
    assert set(evaluation["model"].values) == {"cnn", "ln"}
    assert evaluation["heldout_r"].sizes["cell"] == 20
    assert (tmp_path / "out" / "evaluation.nc").is_file() and not (tmp_path / "out" / "fit.png").exists()  # no drawing
    ln = load(tmp_path / "out" / "ln")
    assert type(ln).__name__ == "LNModel"
    stimulus = read_nwb(white_noise_file)["stimulus"].isel(time=slice(0, 500))
    np.testing.assert_allclose(predict(ln, stimulus).values, predict(result.ln, stimulus).values, rtol=1e-5)
    # the LN's filter lies where the cell is (recorded crop from 15 px): where its STA peaks, or for the
    # ON-OFF cells, which rectify both polarities and have no STA to speak of, its rectified-input energy
    from retinacodec.models.virtual_retina import VirtualRetina

    cells = VirtualRetina().cells
    truth = np.stack([cells["y"].values, cells["x"].values], 1) - 15
    linear = cells["cell_type"].values != "on_off"
    found = np.isfinite(ln.cell_position[:, 0])
    error = np.abs(ln.cell_position - truth).max(1)
    assert found[linear].mean() >= 0.7 and (found & ~linear).any()  # 2.2 minutes of 20 px: not every cell
    assert error[found].max() <= 1  # but every cell found is where it is
    ln_r = evaluation["heldout_r"].sel(model="ln").values
    assert ln_r[linear].mean() > 0.1 and ln_r[linear].mean() > ln_r[~linear].mean() + 0.05
    again = train_nwb(white_noise_file, tmp_path / "out", progress=False)  # resumes: nothing left to fit
    assert again.log["resumed_from_epoch"] == len(result.log["train_loss"])
    np.testing.assert_array_equal(again.evaluation["heldout_r"].values, evaluation["heldout_r"].values)


@pytest.mark.parametrize(
    "change, message",
    [
        ("short", "expected at least 120 s"),
        ("silent", "have no spikes"),
    ],
)
def test_bad_recordings_get_one_clear_line(white_noise_file, change, message):
    recording = read_nwb(white_noise_file)
    stimulus, spikes = recording["stimulus"], recording["spikes"]
    if change == "short":
        stimulus, spikes = stimulus.isel(time=slice(0, 6000)), spikes.isel(time=slice(0, 6000))
    else:
        spikes = spikes.copy(data=spikes.values.copy())
        spikes.values[:, 3] = 0
    with pytest.raises(RetinaCodecError, match=message):
        check_recording(stimulus, spikes)


def test_cli_train_nwb_refuses_a_short_recording_with_one_line(tmp_path, capsys):
    from retinacodec.cli import main

    path = record_white_noise(tmp_path / "short.nwb", minutes=0.5, seed=1, size=8)
    assert main(["train", "--nwb", str(path), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "30 s of stimulus; expected at least 120 s" in error


def test_cli_train_nwb_draws_the_fit(full_field_file, tmp_path, monkeypatch, capsys):
    from matplotlib.image import imread

    from retinacodec.cli import main
    from retinacodec.models.training import recording as module

    monkeypatch.setattr(module, "EPOCH_BUDGET", 1.0)
    (tmp_path / "types.csv").write_text("unit,label\n1,mine\n")
    args = ["train", "--nwb", str(full_field_file[0]), "-o", str(tmp_path / "out"), "--cell-types"]
    assert main([*args, str(tmp_path / "types.csv")]) == 0
    assert imread(tmp_path / "out" / "fit.png").ndim == 3
    assert f"wrote {tmp_path / 'out'}" in capsys.readouterr().out
    types = load(tmp_path / "out" / "cnn").cell_type  # the user's label wins, the others are typed
    assert types[1] == "mine" and "unknown" not in types


def test_full_field_recording_trains_a_temporal_model_scored_on_its_repeats(full_field_file, tmp_path, monkeypatch):
    from retinacodec.metrics import feve, trial_average_r
    from retinacodec.models.training import recording as module

    monkeypatch.setattr(module, "EPOCH_BUDGET", 1.0)
    path, starts, length = full_field_file
    result = train_nwb(path, tmp_path / "ff", progress=False)
    assert result.cnn.architecture["bipolar_kernel"] == 1 and result.cnn.history == 30  # 0.4 s at 75 Hz
    evaluation = result.evaluation
    assert evaluation.attrs["n_repeats"] == len(starts)
    # the scores are the metrics of the models' own predictions against the recorded repeats
    split = split_recording(*(read_nwb(path)[name] for name in ("stimulus", "spikes")))
    trials = split.repeats * 75.0
    predicted = predict(result.ln, split.repeat_stimulus).assign_coords(cell=trials["cell"].values)
    np.testing.assert_allclose(evaluation["repeat_r"].sel(model="ln"), trial_average_r(predicted, trials), rtol=1e-3)
    np.testing.assert_allclose(evaluation["feve"].sel(model="ln"), feve(predicted, trials), rtol=1e-3, atol=1e-4)
    assert float(evaluation["repeat_r"].sel(model="ln").mean()) > 0.15  # 5 noisy trials; near 0 untrained
