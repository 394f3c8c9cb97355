"""Stimulus figure: the frames and traces drawn are the stimulus's own, on a fixed scale."""

import numpy as np
import pytest
from matplotlib.image import imread

from retinacodec.errors import RetinaCodecError
from retinacodec.plots import save_figure
from retinacodec.plots.stimulus import plot_stimulus
from retinacodec.stimuli import flash, white_noise


def test_frames_times_and_mean_trace_are_drawn_from_the_stimulus(tmp_path):
    stim = white_noise(n_frames=50, size=8, seed=1)
    fig = plot_stimulus(stim, n_shown=4)
    frame_axes = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(frame_axes) == 4
    expected = [0, 16, 33, 49]  # evenly spaced first to last
    for ax, index in zip(frame_axes, expected):
        image = ax.images[0]
        np.testing.assert_array_equal(image.get_array(), stim.values[index])
        assert image.get_clim() == (-1.0, 1.0) and image.get_cmap().name == "gray"
        assert ax.get_title() == f"{index / 100:.2f} s"
    trace_ax = next(ax for ax in fig.axes if ax.get_lines())
    mean_line, std_line = trace_ax.get_lines()[:2]
    np.testing.assert_allclose(mean_line.get_ydata(), stim.values.mean(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(std_line.get_ydata(), stim.values.std(axis=(1, 2)), atol=1e-6)
    path = save_figure(fig, tmp_path / "stim.png")
    assert imread(path).shape[2] in (3, 4)


def test_short_stimulus_shows_every_frame():
    fig = plot_stimulus(flash(n_frames=3, size=4), n_shown=6)
    assert len([ax for ax in fig.axes if ax.images and ax.get_title()]) == 3


def test_bad_input_raises():
    with pytest.raises(RetinaCodecError, match="expected an xarray.DataArray"):
        plot_stimulus(np.zeros((3, 4, 4)))
    with pytest.raises(RetinaCodecError, match="n_shown is 0"):
        plot_stimulus(flash(n_frames=3, size=4), n_shown=0)
