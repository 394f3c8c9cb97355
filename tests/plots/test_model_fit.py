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
