"""read_nwb on the layouts labs write: colour frames, an IndexSeries playing a template, external
movie files, presentations tables, epochs, unit selection and an open NWBFile (files written with
pynwb, small, in tmp dirs)."""

from __future__ import annotations

import sys
import types

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO
from pynwb.base import ImageReferences, Images
from pynwb.epoch import TimeIntervals
from pynwb.image import GrayscaleImage, ImageSeries, IndexSeries, OpticalSeries, RGBImage

from retinacodec.errors import RetinaCodecError
from retinacodec.io import NWBSelection
from retinacodec.io.nwb import LUMINANCE_WEIGHTS, read_nwb
from retinacodec.io.nwb.presentations import presentation_movie

from .test_nwb import N_FRAMES, N_X, N_Y, add_units, new_nwbfile, pixel_pattern, save


def colour_frames(n_frames: int = N_FRAMES) -> np.ndarray:
    """uint8 [frame][x][y][r, g, b] with different red, green and blue."""
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(n_frames, N_X, N_Y, 3), dtype=np.uint8)


def test_colour_optical_series_becomes_luminance_with_a_warning(tmp_path):
    rgb = colour_frames()
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(
        OpticalSeries(
            name="movie",
            data=rgb,
            unit="n.a.",
            rate=30.0,
            distance=0.1,
            field_of_view=[0.2, 0.1],
            orientation="lower left",
        )
    )
    add_units(nwbfile, {0: [0.1]})
    with pytest.warns(UserWarning, match=r"colour frames; converted to luminance Y = 0.2126 R"):
        stim = read_nwb(save(nwbfile, tmp_path / "colour.nwb"))["stimulus"]
    luminance = rgb.astype(np.float64) @ np.array(LUMINANCE_WEIGHTS)
    weber = (luminance - luminance.mean()) / luminance.mean()
    assert stim.dims == ("time", "y", "x") and stim.shape == (N_FRAMES, N_Y, N_X)
    np.testing.assert_allclose(stim.values, weber.transpose(0, 2, 1), rtol=1e-4, atol=1e-5)
    assert "BT.709" in stim.attrs["colour_conversion"]
    assert not np.allclose(stim.values, (rgb[..., 1] / rgb[..., 1].mean() - 1).transpose(0, 2, 1))


def index_series_file(path, order=(2, 0, 1), indices=(0, 1, 2, 2, 1, 0, 0, 2)) -> str:
    """Three greyscale template images in stimulus_template, played by an IndexSeries at 10 Hz."""
    nwbfile = new_nwbfile()
    images = [
        GrayscaleImage(name=f"scene{k}", data=np.full((N_X, N_Y), 10.0 * (k + 1)) + pixel_pattern(1)[0])
        for k in range(3)
    ]
    template = Images(
        name="scenes",
        images=images,
        description="natural scenes",
        order_of_images=ImageReferences(name="order_of_images", data=[images[k] for k in order]),
    )
    nwbfile.add_stimulus_template(template)
    nwbfile.add_stimulus(
        IndexSeries(
            name="scene_presentations",
            data=np.asarray(indices, dtype=np.uint32),
            indexed_images=template,
            unit="N/A",
            rate=10.0,
            starting_time=1.0,
        )
    )
    add_units(nwbfile, {0: [1.05, 1.15, 1.16]})
    return save(nwbfile, path)


def test_index_series_expands_template_frames_at_the_presentation_times(tmp_path):
    order, indices = (2, 0, 1), (0, 1, 2, 2, 1, 0, 0, 2)
    ds = read_nwb(index_series_file(tmp_path / "indexed.nwb", order, indices))
    stim = ds["stimulus"]
    image = pixel_pattern(1)[0].T  # (y, x)
    luminance = np.stack([image + 10.0 * (order[i] + 1) for i in indices])
    weber = (luminance - luminance.mean()) / luminance.mean()
    np.testing.assert_allclose(stim.values, weber, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stim["time"], 1.0 + np.arange(len(indices)) / 10.0)
    assert stim.attrs["template"] == "scenes" and stim.attrs["frame_rate_hz"] == 10.0
    assert ds.attrs["stimulus_name"] == "scene_presentations"
    np.testing.assert_array_equal(ds["spikes"].sel(cell=0)[:2], [1, 2])


def test_index_series_of_an_image_series_template_and_out_of_range_indices(tmp_path):
    """Files of older pynwb link the template as indexed_timeseries (pynwb no longer writes it)."""
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus_template(ImageSeries(name="movie", data=pixel_pattern(5) + 1.0, unit="cd/m^2", rate=1.0))
    placeholder = Images(name="placeholder", images=[GrayscaleImage(name="blank", data=np.zeros((2, 2)))])
    nwbfile.add_stimulus_template(placeholder)
    indices = np.array([4, 0, 4], dtype=np.uint32)
    nwbfile.add_stimulus(IndexSeries(name="played", data=indices, indexed_images=placeholder, unit="N/A", rate=5.0))
    add_units(nwbfile, {0: [0.1]})
    path = save(nwbfile, tmp_path / "movie_template.nwb")
    with h5py.File(path, "a") as h5:  # relink as older writers did
        del h5["stimulus/presentation/played/indexed_images"]
        h5["stimulus/presentation/played/indexed_timeseries"] = h5py.SoftLink("/stimulus/templates/movie")
        del h5["stimulus/templates/placeholder"]
    stim = read_nwb(path)["stimulus"]
    luminance = (pixel_pattern(5) + 1.0)[[4, 0, 4]].transpose(0, 2, 1)
    np.testing.assert_allclose(stim.values, luminance / luminance.mean() - 1, rtol=1e-5, atol=1e-6)
    assert stim.attrs["nwb_unit"] == "cd/m^2"

    bad = index_series_file(tmp_path / "bad_index.nwb", indices=(0, 3))
    with pytest.raises(
        RetinaCodecError, match=r"template frames 0..3 of a template of 3 frames; expected indices 0..2"
    ):
        read_nwb(bad)


def external_file(tmp_path, colour: bool = False) -> str:
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(
        ImageSeries(
            name="movie",
            external_file=["movie_a.mp4", "movie_b.mp4"],
            format="external",
            starting_frame=[0, 3],
            num_samples=7,
            unit="n.a.",
            rate=30.0,
        )
    )
    add_units(nwbfile, {0: [0.1]})
    for name in ("movie_a.mp4", "movie_b.mp4"):
        (tmp_path / name).write_bytes(b"not decoded by the fake reader")
    return save(nwbfile, tmp_path / "external.nwb")


def fake_imageio(monkeypatch, movies: dict[str, np.ndarray]) -> None:
    """An ``imageio.v3`` whose ``imread`` returns the given frames (frame, y, x[, c]) per file name."""
    v3 = types.ModuleType("imageio.v3")
    v3.imread = lambda path, index=None: movies[path.name]
    package = types.ModuleType("imageio")
    package.v3 = v3
    monkeypatch.setitem(sys.modules, "imageio", package)
    monkeypatch.setitem(sys.modules, "imageio.v3", v3)


def test_external_movie_files_are_read_with_a_video_reader(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    first = rng.integers(1, 256, size=(3, N_Y, N_X), dtype=np.uint8)  # movies are rows x columns: (y, x)
    second = rng.integers(1, 256, size=(4, N_Y, N_X, 3), dtype=np.uint8)
    fake_imageio(monkeypatch, {"movie_a.mp4": first, "movie_b.mp4": second})
    path = external_file(tmp_path)
    with pytest.warns(UserWarning, match="colour frames"):
        stim = read_nwb(path)["stimulus"]
    luminance = np.concatenate([first, second.astype(np.float64) @ np.array(LUMINANCE_WEIGHTS)])
    np.testing.assert_allclose(stim.values, luminance / luminance.mean() - 1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stim["time"], np.arange(7) / 30.0)

    fake_imageio(monkeypatch, {"movie_a.mp4": first[:2], "movie_b.mp4": second})
    with pytest.warns(UserWarning, match="colour"), pytest.raises(RetinaCodecError, match=r"\[2, 4\] frames"):
        read_nwb(path)


def test_external_movie_files_without_a_reader_get_one_line_naming_them_and_the_extra(tmp_path, monkeypatch):
    for module in ("imageio", "imageio.v3", "cv2"):
        monkeypatch.setitem(sys.modules, module, None)  # none installed
    with pytest.raises(RetinaCodecError) as error:
        read_nwb(external_file(tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert "external files (movie_a.mp4, movie_b.mp4)" in message
    assert "pip install 'retinacodec[video]'" in message


def test_missing_external_movie_files_are_named(tmp_path, monkeypatch):
    fake_imageio(monkeypatch, {})
    path = external_file(tmp_path)
    (tmp_path / "movie_b.mp4").unlink()
    with pytest.raises(RetinaCodecError, match=r"external files that are missing \(.*movie_b.mp4\)"):
        read_nwb(path)


def flicker_file(path, contrast, start=0.5, duration=0.02, gaps=False, spatial=False) -> str:
    """Full-field flicker given only as a presentations table, one row per frame (DANDI 000563)."""
    nwbfile = new_nwbfile()
    table = TimeIntervals(name="flicker_presentations", description="full-field flicker")
    table.add_column(name="contrast", description="full-field contrast")
    if spatial:
        table.add_column(name="orientation", description="grating orientation")
    for k, value in enumerate(contrast):
        if gaps and k % 2:
            continue
        onset = start + k * duration
        extra = {"orientation": 45.0} if spatial else {}
        table.add_row(start_time=onset, stop_time=onset + duration, contrast=float(value), **extra)
    nwbfile.add_time_intervals(table)
    add_units(nwbfile, {3: [start + 0.001, start + 0.005, start + 0.03]})
    return save(nwbfile, path)


def test_full_field_presentations_table_gives_one_frame_per_presentation(tmp_path):
    contrast = np.random.default_rng(7).uniform(-1, 1, size=40)
    ds = read_nwb(flicker_file(tmp_path / "flicker.nwb", contrast))
    stim = ds["stimulus"]
    assert stim.shape == (40, 1, 1)
    np.testing.assert_allclose(stim.values[:, 0, 0], contrast, rtol=1e-6)
    np.testing.assert_allclose(stim["time"], 0.5 + np.arange(40) * 0.02)
    assert stim.attrs["frame_rate_hz"] == pytest.approx(50.0)
    assert stim.attrs["full_field_column"] == "contrast"
    assert ds.attrs["stimulus_name"] == "flicker_presentations"
    np.testing.assert_array_equal(ds["spikes"].sel(cell=3)[:2], [2, 1])


def test_presentations_table_gaps_are_mean_grey_and_patterns_are_refused(tmp_path):
    contrast = np.linspace(0.1, 0.8, 8)
    stim = read_nwb(flicker_file(tmp_path / "gaps.nwb", contrast, gaps=True))["stimulus"]
    expected = np.where(np.arange(7) % 2, 0.0, contrast[:7])  # the last row (7) is a gap: 7 frames
    np.testing.assert_allclose(stim.values[:, 0, 0], expected, rtol=1e-6)
    with pytest.raises(RetinaCodecError, match="orientation column.*pattern rather than the full field"):
        read_nwb(flicker_file(tmp_path / "grating.nwb", contrast, spatial=True))


def test_presentations_table_without_a_parameter_column_is_refused():
    table = TimeIntervals(name="gratings", description="no frame or full-field column")
    table.add_row(start_time=0.0, stop_time=0.5)
    with pytest.raises(RetinaCodecError, match="gratings has no frame or full-field column; expected one of frame"):
        presentation_movie(table, None, None, "gratings")


def test_presentations_table_joined_to_its_template_by_frame(tmp_path):
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus_template(
        ImageSeries(name="natural_movie", data=pixel_pattern(4) + 2.0, unit="n.a.", rate=30.0)
    )
    table = TimeIntervals(name="natural_movie_presentations", description="movie frames")
    table.add_column(name="frame", description="template frame")
    for k, frame in enumerate([0, 1, 2, 3, 0, 1, 2, 3]):
        table.add_row(start_time=2.0 + k / 30, stop_time=2.0 + (k + 1) / 30, frame=frame)
    nwbfile.add_time_intervals(table)
    add_units(nwbfile, {0: [2.01]})
    ds = read_nwb(save(nwbfile, tmp_path / "movie_table.nwb"), stimulus="natural_movie_presentations")
    luminance = (pixel_pattern(4) + 2.0)[[0, 1, 2, 3, 0, 1, 2, 3]].transpose(0, 2, 1)
    np.testing.assert_allclose(ds["stimulus"].values, luminance / luminance.mean() - 1, rtol=1e-5, atol=1e-6)
    assert ds["stimulus"].attrs["template"] == "natural_movie"


def epochs_file(path) -> str:
    """A 100-frame movie at 50 Hz (0-2 s) with epochs 'dark' (0-0.4 s) and 'movie' (1-1.4 s, 1.6-1.8 s)."""
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    nwbfile.add_epoch(start_time=0.0, stop_time=0.4, tags=["dark"])
    nwbfile.add_epoch(start_time=1.0, stop_time=1.4, tags=["movie"])
    nwbfile.add_epoch(start_time=1.6, stop_time=1.8, tags=["movie"])
    for start in (1.0, 1.6):
        nwbfile.add_trial(start_time=start, stop_time=start + 0.2)
    nwbfile.add_trial(start_time=0.5, stop_time=0.7)  # outside every epoch chosen below
    add_units(nwbfile, {0: np.arange(0.005, 2.0, 0.02).tolist()})  # one spike per frame
    return save(nwbfile, path)


def test_epochs_by_name_and_by_interval_keep_their_frames_and_counts(tmp_path):
    path = epochs_file(tmp_path / "epochs.nwb")
    whole = read_nwb(path)
    ds = read_nwb(path, epochs="movie")
    expected = np.r_[50:70, 80:90]
    np.testing.assert_array_equal(ds["time"], whole["time"][expected])
    np.testing.assert_array_equal(ds["stimulus"], whole["stimulus"][expected])
    np.testing.assert_array_equal(ds["spikes"], whole["spikes"][expected])
    np.testing.assert_array_equal(ds["epoch_start"], [0, 20])
    np.testing.assert_array_equal(ds["repeat_start"], [0, 20])  # the trial at 0.5 s lies in no epoch
    assert ds["repeat_start"].attrs["repeat_frames"] == 10

    several = read_nwb(path, epochs=["dark", (1.0, 1.1)])
    np.testing.assert_array_equal(several["time"], whole["time"][np.r_[0:20, 50:55]])
    assert read_nwb(path, epochs=(0.0, 0.1)).sizes["time"] == 5
    with pytest.raises(RetinaCodecError, match=r"no epoch named 'light'.*\['dark', 'movie'\]"):
        read_nwb(path, epochs="light")
    with pytest.raises(RetinaCodecError, match="no stimulus frame .* lies in the epochs"):
        read_nwb(path, epochs=(5.0, 6.0))
    with pytest.raises(RetinaCodecError, match=r"epoch \(2.0, 1.0\) is not an interval"):
        read_nwb(path, epochs=(2.0, 1.0))


def sorted_units_file(path) -> str:
    """Four units on two electrode groups, with quality and firing-rate columns."""
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    device = nwbfile.create_device(name="mea")
    groups = [
        nwbfile.create_electrode_group(name=name, description=name, location="retina", device=device)
        for name in ("shank0", "shank1")
    ]
    nwbfile.add_unit_column(name="quality", description="sorting quality")
    nwbfile.add_unit_column(name="firing_rate", description="Hz")
    for unit_id, (quality, rate, group) in enumerate(
        [("good", 5.0, 0), ("mua", 1.0, 0), ("good", 12.0, 1), ("noise", 0.5, 1)]
    ):
        nwbfile.add_unit(
            spike_times=[0.1 * (unit_id + 1)],
            id=10 + unit_id,
            quality=quality,
            firing_rate=rate,
            electrode_group=groups[group],
        )
    return save(nwbfile, path)


def test_units_selected_by_any_column_and_electrode_group_names(tmp_path):
    path = sorted_units_file(tmp_path / "units.nwb")
    whole = read_nwb(path)
    assert list(whole["electrode_group"].values) == ["shank0", "shank0", "shank1", "shank1"]  # names, no repr
    good = read_nwb(path, units="quality==good")
    assert list(good["cell"].values) == [10, 12]
    np.testing.assert_array_equal(good["spikes"], whole["spikes"].sel(cell=[10, 12]))
    assert list(good["quality"].values) == ["good", "good"]
    assert list(read_nwb(path, units=["quality != noise", "firing_rate>=1"])["cell"].values) == [10, 11, 12]
    assert list(read_nwb(path, units={"quality": ["mua", "noise"]})["cell"].values) == [11, 13]
    assert list(read_nwb(path, electrode_groups="shank1")["cell"].values) == [12, 13]
    both = read_nwb(path, units="quality=='good'", electrode_groups=["shank1"])
    assert list(both["cell"].values) == [12] and "quality=='good'" in both.attrs["unit_selection"]


@pytest.mark.parametrize(
    "selection, message",
    [
        ({"units": "depth==3"}, r"no column 'depth'; expected one of \["),
        ({"units": "quality good"}, r"'quality good' is not a condition; expected COLUMN==VALUE"),
        ({"units": "firing_rate>fast"}, r"compares a numeric column .* with 'fast'; expected a number"),
        ({"units": "quality>good"}, "orders text values"),
        ({"units": "quality==excellent"}, "no unit of .* meets the unit selection"),
        ({"electrode_groups": "shank9"}, r"no electrode group \['shank9'\] .*expected one of \['shank0', 'shank1'\]"),
        ({"units": "spike_times==1"}, "several values or references per unit"),
    ],
)
def test_bad_unit_selections_get_one_line(tmp_path, selection, message):
    with pytest.raises(RetinaCodecError, match=message):
        read_nwb(sorted_units_file(tmp_path / "units.nwb"), **selection)


def test_an_open_nwbfile_is_read_like_its_path_and_a_selection_reads_the_same(tmp_path):
    path = sorted_units_file(tmp_path / "units.nwb")
    selection = NWBSelection(stimulus="noise", epochs=(0.0, 1.0), units="quality==good")
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        opened = read_nwb(nwbfile, "noise", epochs=(0.0, 1.0), units="quality==good")
        assert nwbfile.units is not None  # still open: read_nwb leaves it so
    from_path = selection.read(path)
    np.testing.assert_array_equal(opened["stimulus"], from_path["stimulus"])
    np.testing.assert_array_equal(opened["spikes"], from_path["spikes"])
    assert opened.attrs["source_file"] == path
    with pytest.raises(RetinaCodecError, match="source is a int; expected the path of an NWB file or an open"):
        read_nwb(3)


def test_several_kinds_of_stimulus_are_chosen_by_name(tmp_path):
    nwbfile = new_nwbfile()
    nwbfile.add_stimulus(ImageSeries(name="noise", data=pixel_pattern(), unit="contrast", rate=50.0))
    table = TimeIntervals(name="flash_presentations", description="flashes")
    table.add_column(name="color", description="full-field contrast")
    table.add_row(start_time=0.0, stop_time=0.5, color=1.0)
    nwbfile.add_time_intervals(table)
    add_units(nwbfile, {0: [0.1]})
    path = save(nwbfile, tmp_path / "kinds.nwb")
    assert read_nwb(path).attrs["stimulus_name"] == "noise"  # a series before a table
    flash = read_nwb(path, stimulus="flash_presentations")["stimulus"]
    assert flash.shape == (1, 1, 1) and flash.item() == 1.0
    with pytest.raises(RetinaCodecError, match=r"named 'chirp'.*\['flash_presentations', 'noise'\]"):
        read_nwb(path, stimulus="chirp")


def test_rgb_template_image_is_made_luminance(tmp_path):
    rgb = colour_frames(1)[0]
    nwbfile = new_nwbfile()
    image = RGBImage(name="scene", data=rgb)
    template = Images(name="scenes", images=[image], description="one scene")
    nwbfile.add_stimulus_template(template)
    nwbfile.add_stimulus(
        IndexSeries(name="shown", data=np.zeros(3, dtype=np.uint32), indexed_images=template, unit="N/A", rate=2.0)
    )
    add_units(nwbfile, {0: [0.1]})
    with pytest.warns(UserWarning, match="colour frames"):
        stim = read_nwb(save(nwbfile, tmp_path / "rgb_template.nwb"))["stimulus"]
    luminance = (rgb.astype(np.float64) @ np.array(LUMINANCE_WEIGHTS)).T
    np.testing.assert_allclose(stim.values[2], luminance / luminance.mean() - 1, rtol=1e-4, atol=1e-5)
