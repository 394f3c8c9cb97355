"""read_nwb / write_nwb against NWB files built directly with pynwb."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.image import ImageSeries

from retinacodec.errors import RetinaCodecError
from retinacodec.io.nwb import read_nwb, write_nwb
from retinacodec.stimuli.base import make_stimulus

N_FRAMES, N_X, N_Y = 100, 8, 6  # non-square, so a swapped x and y cannot pass


def pixel_pattern(n_frames: int = N_FRAMES) -> np.ndarray:
    """NWB-ordered data [frame][x][y] whose value names its own position: f/1000 + x/10 - y/100."""
    frame, x, y = np.meshgrid(np.arange(n_frames), np.arange(N_X), np.arange(N_Y), indexing="ij")
    return (frame / 1000 + x / 10 - y / 100).astype(np.float32)


def new_nwbfile() -> NWBFile:
    return NWBFile(
        session_description="test session",
        identifier="test-id-1",
        session_start_time=datetime(2024, 1, 2, tzinfo=UTC),
    )


def add_units(nwbfile: NWBFile, trains: dict[int, list[float]], cell_type=None) -> None:
    if cell_type is not None:
        nwbfile.add_unit_column(name="cell_type", description="type")
    for index, (unit_id, times) in enumerate(trains.items()):
        extra = {} if cell_type is None else {"cell_type": cell_type[index]}
        nwbfile.add_unit(spike_times=times, id=unit_id, **extra)


def save(nwbfile: NWBFile, path) -> str:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return str(path)


def simple_file(path, data=None, unit="contrast", **timing) -> str:
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(
        ImageSeries(
            name="noise",
            data=pixel_pattern() if data is None else data,
            unit=unit,
            **(timing or {"rate": 50.0}),
        )
    )
    add_units(nwbfile, {0: [timing.get("starting_time", 0.0) + 0.1]})  # a spike during the stimulus
    return save(nwbfile, path)


def test_rate_based_stimulus_has_time_y_x_order_times_and_attrs(tmp_path):
    path = simple_file(tmp_path / "rate.nwb", rate=60.0, starting_time=2.5)
    ds = read_nwb(path)
    stim = ds["stimulus"]
    assert stim.dims == ("time", "y", "x")
    assert stim.dtype == np.float32
    assert (stim.sizes["time"], stim.sizes["y"], stim.sizes["x"]) == (N_FRAMES, N_Y, N_X)
    for frame, x, y in [(0, 0, 0), (7, 5, 2), (99, 7, 5), (42, 3, 4)]:
        expected = frame / 1000 + x / 10 - y / 100
        assert stim.isel(time=frame).sel(x=x, y=y).item() == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(stim["time"], 2.5 + np.arange(N_FRAMES) / 60.0)
    assert stim.attrs["frame_rate_hz"] == 60.0
    assert stim.attrs["units"] == "1" and stim["time"].attrs["axis"] == "T"
    assert stim.attrs["series_name"] == "noise"
    assert stim.attrs["source_file"] == path
    assert ds.attrs["session_description"] == "test session"
    assert ds.attrs["identifier"] == "test-id-1"
    assert ds.attrs["stimulus_name"] == "noise"
    assert ds.attrs["source_file"] == path


def test_luminance_is_converted_to_weber_contrast_after_conversion_and_offset(tmp_path):
    raw = np.random.default_rng(0).uniform(10, 200, size=(N_FRAMES, N_X, N_Y))
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="lum", data=raw, unit="cd/m^2", rate=30.0, conversion=0.5, offset=3.0))
    add_units(nwbfile, {0: [0.1]})
    stim = read_nwb(save(nwbfile, tmp_path / "lum.nwb"))["stimulus"]
    luminance = raw * 0.5 + 3.0
    weber = (luminance - luminance.mean()) / luminance.mean()
    np.testing.assert_allclose(stim.values, weber.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
    assert stim.attrs["units"] == "1"
    assert stim.attrs["nwb_unit"] == "cd/m^2"
    assert stim.attrs["mean_luminance"] == pytest.approx(luminance.mean())
    assert "Weber" in stim.attrs["contrast_conversion"]


def test_irregular_timestamps_give_frame_times_rate_and_bins(tmp_path):
    rng = np.random.default_rng(1)
    timestamps = np.cumsum(rng.uniform(0.008, 0.013, size=N_FRAMES)) + 0.3
    train = np.sort(rng.uniform(0.0, timestamps[-1] + 0.05, size=300))
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", timestamps=timestamps))
    add_units(nwbfile, {4: train.tolist()})
    ds = read_nwb(save(nwbfile, tmp_path / "ts.nwb"))
    np.testing.assert_allclose(ds["time"], timestamps)
    median_interval = np.median(np.diff(timestamps))
    assert ds["stimulus"].attrs["frame_rate_hz"] == pytest.approx(1 / median_interval)
    edges = np.append(timestamps, timestamps[-1] + median_interval)
    np.testing.assert_array_equal(ds["spikes"].sel(cell=4), np.histogram(train, edges)[0])


def test_spike_counts_equal_numpy_histogram_on_frame_edges(tmp_path):
    rate, start = 50.0, 1.0
    frame_times = start + np.arange(N_FRAMES) / rate
    edges = np.append(frame_times, frame_times[-1] + 1 / rate)
    rng = np.random.default_rng(2)
    trains = {
        # before the first frame and after the last bin (dropped), on inner edges and the last edge
        7: [0.2, 0.99, start, 1.02, 1.02, 1.5, edges[-1], edges[-1] + 0.01, 9.0],
        3: [],  # a unit that never fired
        12: np.sort(rng.uniform(0.5, 4.0, size=500)).tolist(),
    }
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(
        ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=rate, starting_time=start)
    )
    add_units(nwbfile, trains)
    spikes = read_nwb(save(nwbfile, tmp_path / "spikes.nwb"))["spikes"]
    assert spikes.dims == ("time", "cell")
    assert np.issubdtype(spikes.dtype, np.integer)
    assert list(spikes["cell"].values) == [7, 3, 12]
    for unit_id, train in trains.items():
        np.testing.assert_array_equal(spikes.sel(cell=unit_id), np.histogram(train, edges)[0])
    # by hand: 5 of unit 7's 9 spikes fall in [first frame, last edge]; the last edge counts
    assert spikes.sel(cell=7).sum().item() == 5
    assert spikes.sel(cell=7).isel(time=1).item() == 2  # the two spikes on the edge at 1.02 s
    assert spikes.sel(cell=7).isel(time=-1).item() == 1
    assert spikes.sel(cell=3).sum().item() == 0


def test_per_unit_columns_become_cell_coords(tmp_path):
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    for name in ("cell_type", "position", "x"):
        nwbfile.add_unit_column(name=name, description=name)
    nwbfile.add_unit(spike_times=[0.1], id=1, cell_type="ON", position=[1.0, 2.0], x=3.0)
    nwbfile.add_unit(spike_times=[], id=2, cell_type="OFF", position=[4.0, 5.0], x=6.0)
    ds = read_nwb(save(nwbfile, tmp_path / "cols.nwb"))
    assert list(ds["spikes"]["cell_type"].values) == ["ON", "OFF"]
    np.testing.assert_array_equal(ds["position"], [[1.0, 2.0], [4.0, 5.0]])
    assert ds["position"].dims == ("cell", "position_axis")
    np.testing.assert_array_equal(ds["cell_x"], [3.0, 6.0])  # renamed: x is a stimulus dim
    assert ds.sizes["x"] == N_X


def several_stimuli_file(path) -> str:
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    nwbfile.add_stimulus(ImageSeries(name="flash", data=-pixel_pattern(20), unit="contrast", rate=10.0))
    add_units(nwbfile, {0: [0.1]})
    return save(nwbfile, path)


def test_several_stimuli_choose_by_name_and_refuse_ambiguity(tmp_path):
    path = several_stimuli_file(tmp_path / "two.nwb")
    ds = read_nwb(path, stimulus="flash")
    assert ds.attrs["stimulus_name"] == "flash"
    assert ds.sizes["time"] == 20
    assert ds["stimulus"].attrs["frame_rate_hz"] == 10.0
    np.testing.assert_allclose(ds["stimulus"].values, -pixel_pattern(20).transpose(0, 2, 1))
    with pytest.raises(RetinaCodecError, match=r"several.*'flash'.*'noise'.*stimulus="):
        read_nwb(path)
    with pytest.raises(RetinaCodecError, match=r"'chirp'.*expected one of \['flash', 'noise'\]"):
        read_nwb(path, stimulus="chirp")


def test_stimulus_found_in_acquisition_when_stimulus_group_is_empty(tmp_path):
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(ImageSeries(name="movie", data=pixel_pattern(), unit="contrast", rate=50.0))
    add_units(nwbfile, {0: [0.1]})
    ds = read_nwb(save(nwbfile, tmp_path / "acq.nwb"))
    assert ds.attrs["stimulus_name"] == "movie"
    assert ds.sizes["time"] == N_FRAMES


def test_write_nwb_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.uniform(-1, 1, size=(N_FRAMES, N_Y, N_X))
    stim = make_stimulus(frames, 100.0, kind="white_noise")
    trains = [np.sort(rng.uniform(-0.1, 1.1, size=n)) for n in (50, 0, 120)]
    path = write_nwb(tmp_path / "round.nwb", stim, trains, ["ON", "OFF", "ON"], cell_ids=[9, 4, 6])
    assert os.listdir(tmp_path) == ["round.nwb"]  # no temporary file left behind

    # the file is a plain NWB file: read it back with pynwb alone
    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().stimulus["stimulus"]
        assert series.data.shape == (N_FRAMES, N_X, N_Y)
        assert series.unit == "contrast" and series.rate == 100.0

    ds = read_nwb(path)
    np.testing.assert_array_equal(ds["stimulus"].values, frames.astype(np.float32))
    np.testing.assert_allclose(ds["time"], np.arange(N_FRAMES) / 100.0)
    edges = np.arange(N_FRAMES + 1) / 100.0
    assert list(ds["cell"].values) == [9, 4, 6]
    assert list(ds["cell_type"].values) == ["ON", "OFF", "ON"]
    for unit_id, train in zip([9, 4, 6], trains):
        np.testing.assert_array_equal(ds["spikes"].sel(cell=unit_id), np.histogram(train, edges)[0])


def test_write_nwb_keeps_irregular_frame_times(tmp_path):
    timestamps = np.cumsum(np.random.default_rng(4).uniform(0.009, 0.012, size=N_FRAMES))
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", timestamps=timestamps))
    add_units(nwbfile, {0: [0.1]})
    first = read_nwb(save(nwbfile, tmp_path / "ts.nwb"))
    second = read_nwb(write_nwb(tmp_path / "again.nwb", first["stimulus"], [[0.1]]))
    np.testing.assert_allclose(second["time"], timestamps)
    np.testing.assert_array_equal(second["stimulus"], first["stimulus"])


def test_write_nwb_rejects_bad_input(tmp_path):
    stim = make_stimulus(np.zeros((5, N_Y, N_X)), 50.0, kind="flat")
    with pytest.raises(RetinaCodecError, match="cell_type has 1 entries; expected one per cell"):
        write_nwb(tmp_path / "a.nwb", stim, [[0.1], [0.2]], ["ON"])
    with pytest.raises(RetinaCodecError, match="spike train 1 .*expected a 1-D array"):
        write_nwb(tmp_path / "a.nwb", stim, [[0.1], [np.nan]])
    with pytest.raises(RetinaCodecError, match="expected contrast"):
        write_nwb(tmp_path / "a.nwb", stim.assign_attrs(units="cd/m^2"), [[0.1]])
    with pytest.raises(RetinaCodecError, match=r"dims \('time', 'y'\); expected an xarray.DataArray"):
        write_nwb(tmp_path / "a.nwb", stim.isel(x=0), [[0.1]])
    with pytest.raises(RetinaCodecError, match="frame_rate_hz is None"):
        write_nwb(tmp_path / "a.nwb", stim.drop_attrs(), [[0.1]])
    with pytest.raises(RetinaCodecError, match="NaN"):
        write_nwb(tmp_path / "a.nwb", stim.where(stim.time > 0), [[0.1]])
    assert not any(tmp_path.iterdir())


def test_missing_file(tmp_path):
    with pytest.raises(RetinaCodecError, match="not found.*expected an existing .nwb file"):
        read_nwb(tmp_path / "absent.nwb")


def test_text_file(tmp_path):
    path = tmp_path / "notes.nwb"
    path.write_text("not an nwb file")
    with pytest.raises(RetinaCodecError, match="not an HDF5 file; expected an NWB"):
        read_nwb(path)


def test_hdf5_file_without_nwb_structure(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as h5:
        h5["data"] = np.arange(10)
    with pytest.raises(RetinaCodecError, match="no NWB version.*expected an NWB 2.x file"):
        read_nwb(path)


def test_file_without_image_series(tmp_path):
    nwbfile = new_nwbfile()
    add_units(nwbfile, {0: [0.1]})
    with pytest.raises(RetinaCodecError, match="no ImageSeries stimulus"):
        read_nwb(save(nwbfile, tmp_path / "nostim.nwb"))


def test_file_without_units_table(tmp_path):
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    with pytest.raises(RetinaCodecError, match="no units table"):
        read_nwb(save(nwbfile, tmp_path / "nounits.nwb"))


def test_stimulus_with_nan(tmp_path):
    data = pixel_pattern()
    data[3, 2, 1] = np.nan
    with pytest.raises(RetinaCodecError, match="1 NaN or infinite values"):
        read_nwb(simple_file(tmp_path / "nan.nwb", data=data))


def test_stimulus_with_wrong_number_of_dims(tmp_path):
    data = np.zeros((N_FRAMES, N_X, N_Y, 2), dtype=np.float32)  # [frame][x][y][z]
    expected_message = r"shape \(100, 8, 6, 2\); expected .*\[frame\]\[x\]\[y\]"
    with pytest.raises(RetinaCodecError, match=expected_message):
        read_nwb(simple_file(tmp_path / "4d.nwb", data=data))


def test_integer_frames_read_in_chunks_equal_the_float64_conversion(tmp_path, monkeypatch):
    import retinacodec.io.nwb.frames as module

    raw = np.random.default_rng(2).integers(0, 256, size=(N_FRAMES, N_X, N_Y), dtype=np.uint8)
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="lum", data=raw, unit="cd/m^2", rate=100.0, conversion=0.25, offset=1.0))
    add_units(nwbfile, {0: [0.1]})
    path = save(nwbfile, tmp_path / "uint8.nwb")
    monkeypatch.setattr(module, "READ_CHUNK_BYTES", 7 * N_X * N_Y * 8)  # 7 frames a chunk, a ragged last one
    stim = read_nwb(path)["stimulus"]
    luminance = raw.astype(np.float64) * 0.25 + 1.0
    weber = (luminance - luminance.mean()) / luminance.mean()
    assert stim.dtype == np.float32
    np.testing.assert_allclose(stim.values, weber.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)


def test_frames_in_external_files_without_a_reader_get_one_line_naming_them(tmp_path, monkeypatch):
    for module in ("imageio", "imageio.v3", "cv2"):
        monkeypatch.setitem(sys.modules, module, None)  # no video reader installed
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(
        ImageSeries(
            name="movie",
            external_file=["movie_a.mp4", "movie_b.mp4"],
            format="external",
            starting_frame=[0, 50],
            unit="n.a.",
            timestamps=np.arange(N_FRAMES) / 60.0,
        )
    )
    add_units(nwbfile, {0: [0.1]})
    with pytest.raises(RetinaCodecError, match=r"external files \(movie_a.mp4, movie_b.mp4\).*retinacodec\[video\]"):
        read_nwb(save(nwbfile, tmp_path / "external.nwb"))


@pytest.mark.parametrize(
    "timestamps, message",
    [
        (np.r_[0.0, 0.02, 0.01, np.arange(3, N_FRAMES) * 0.01], "not finite and strictly increasing"),
        (np.arange(N_FRAMES - 5) * 0.01, f"{N_FRAMES - 5} timestamps for {N_FRAMES} frames"),
    ],
)
def test_bad_frame_times_get_one_line(tmp_path, timestamps, message):
    path = simple_file(tmp_path / "bad_times.nwb", timestamps=np.arange(N_FRAMES) * 0.01)
    with h5py.File(path, "a") as h5:  # pynwb refuses to write such files; other writers do not
        del h5["stimulus/presentation/noise/timestamps"]
        h5["stimulus/presentation/noise"].create_dataset("timestamps", data=timestamps)
    with pytest.raises(RetinaCodecError, match=message):
        read_nwb(path)


def test_trials_table_gives_the_repeats(tmp_path):
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    add_units(nwbfile, {0: [0.1]})
    for start in (0.2, 0.9, 1.6):
        nwbfile.add_trial(start_time=start, stop_time=start + 0.4)
    ds = read_nwb(save(nwbfile, tmp_path / "trials.nwb"))
    np.testing.assert_array_equal(ds["repeat_start"].values, [10, 45, 80])  # 50 Hz frames
    assert ds["repeat_start"].attrs["repeat_frames"] == 20
    assert "repeat_start" not in read_nwb(simple_file(tmp_path / "plain.nwb"))


def spikes_file(path, trains) -> str:
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    add_units(nwbfile, trains)
    return save(nwbfile, path)


def test_spike_times_in_ms_are_refused_naming_the_unit_and_the_likely_mistake(tmp_path):
    rng = np.random.default_rng(3)  # the stimulus spans 0-2 s; spikes given in ms
    trains = {1: [0.5, 1.0], 3: np.sort(rng.uniform(0.0, 2000.0, size=200)).tolist()}
    with pytest.raises(RetinaCodecError, match=r"of unit 3's spikes .* fall after the stimulus ends at 2 s .*in ms\?"):
        read_nwb(spikes_file(tmp_path / "ms.nwb", trains))


def test_spikes_mostly_before_the_stimulus_are_refused_naming_another_clock(tmp_path):
    trains = {5: [-40.0, -30.0, -20.0, 0.5]}
    with pytest.raises(
        RetinaCodecError, match=r"75.0% of unit 5's spikes .* before the stimulus starts .*another clock"
    ):
        read_nwb(spikes_file(tmp_path / "clock.nwb", trains))


def test_nan_spike_times_are_refused_naming_the_unit(tmp_path):
    with pytest.raises(RetinaCodecError, match=r"unit 4 of .* 1 NaN or infinite spike times"):
        read_nwb(spikes_file(tmp_path / "nan.nwb", {2: [0.1], 4: [0.2, float("nan")]}))


def test_a_session_of_several_stimuli_is_read_where_the_chosen_one_holds_few_spikes(tmp_path):
    """Spikes during another stimulus of the file (here 2-8 s) are not taken for a unit mistake:
    the check spans every stimulus of the session; the chosen one's counts hold only its own."""
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))  # 0-2 s
    flashes = np.zeros((300, 4, 4))
    nwbfile.add_stimulus(ImageSeries(name="flashes", data=flashes, unit="contrast", rate=50.0, starting_time=2.0))
    add_units(nwbfile, {0: [0.5, 1.5, *np.linspace(2.5, 7.5, 20)]})
    ds = read_nwb(save(nwbfile, tmp_path / "two.nwb"), stimulus="noise")
    assert int(ds["spikes"].sum()) == 2
    with pytest.raises(RetinaCodecError, match=r"fall after the stimulus ends at 8 s .*in ms\?"):
        trains = {0: [500.0, 1500.0, 2500.0, 7000.0]}  # in ms: outside every stimulus of the session
        nwbfile = new_nwbfile()
        nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
        nwbfile.add_stimulus(ImageSeries(name="flashes", data=flashes, unit="contrast", rate=50.0, starting_time=2.0))
        add_units(nwbfile, trains)
        read_nwb(save(nwbfile, tmp_path / "two_ms.nwb"), stimulus="noise")
