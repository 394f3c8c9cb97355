"""The model-fit figure: traces of the chosen cells, and a clear error for cells that do not exist."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.plots.model_fit import plot_model_fit


def rates(seed):
    rng = np.random.default_rng(seed)
    return xr.DataArray(
        rng.random((200, 3)) * 10,
        dims=("time", "cell"),
        coords={"time": np.arange(200) * 0.01, "cell": np.arange(3), "cell_type": ("cell", ["ON", "OFF", "ON"])},
    )


def test_traces_cover_the_chosen_cells_and_a_missing_cell_is_refused():
    true, pred = rates(0), rates(1)
    fig = plot_model_fit(pred, true, cells=[0, 2], duration_s=1.0)
    trace_axes = [ax for ax in fig.axes if ax.get_lines()]
    assert len(trace_axes) >= 2
    assert max(line.get_xdata().max() for line in trace_axes[0].get_lines()) <= 1.0 + 1e-9
    with pytest.raises(RetinaCodecError, match=r"expected a non-empty list of positions in 0\.\.2"):
        plot_model_fit(pred, true, cells=[3])


def test_recording_fit_legends_sit_outside_the_data():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from retinacodec.plots.model_fit import plot_recording_fit

    rng = np.random.default_rng(0)
    recorded = rng.gamma(2.0, 5.0, (400, 4))
    predicted = np.stack([recorded + rng.normal(0, 3, recorded.shape), recorded + rng.normal(0, 4, recorded.shape)])
    evaluation = xr.Dataset(
        {
            "predicted": (("model", "time", "cell"), predicted),
            "recorded": (("time", "cell"), recorded),
            "heldout_r": (("model", "cell"), [[0.6, 0.5, 0.4, 0.42], [0.6, 0.5, 0.3, 0.0]]),
        },
        coords={"model": ["cnn", "ln"], "time": np.arange(400) / 100.0, "cell": [0, 1, 2, 3]},
    )
    figure = plot_recording_fit(evaluation)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    for ax in figure.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.overlaps(ax.get_window_extent(renderer)), ax.get_title()
