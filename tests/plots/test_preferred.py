"""The figure of the stimuli a cell's modes prefer."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.plots.preferred import peak, preferred_stimuli_figure


def _preferred() -> xr.Dataset:
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {
            "preferred_stimulus": (("mode", "time", "y", "x"), rng.uniform(-0.3, 0.3, (2, 6, 8, 8))),
            "most_exciting_input": (("time", "y", "x"), rng.uniform(-0.3, 0.3, (6, 8, 8))),
            "preferred_loading": ("mode", [1.5, 0.2]),
            "mei_rate": ((), 40.0),
        },
        coords={"mode": [4, 9], "time": np.arange(6) / 100, "cell": 3, "cell_type": "oms"},
        attrs={"design_max_contrast": 0.4, "contrast_centre": 0.0},
    )


@pytest.mark.parametrize("with_irf", [False, True])
def test_one_column_per_stimulus_with_frame_and_time_course(with_irf):
    preferred = _preferred()
    agreement = xr.Dataset({"irf_correlation": ("mode", [0.5, -0.25]), "mei_irf_correlation": ((), 0.75)})
    fig = preferred_stimuli_figure(preferred, agreement.assign_coords(mode=[4, 9]) if with_irf else None)
    assert len(fig.axes) == 6  # the most exciting input and two modes, frame over time course
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("most exciting input") and "mode 9" in titles[2]
    assert ("r with IRF -0.25" in titles[2]) == with_irf


def test_peak_is_the_frame_and_pixel_of_the_largest_deviation():
    movie = np.zeros((5, 4, 4))
    movie[:, 1, 2] = [0, 0.1, -0.3, 0.1, 0]
    assert peak(movie + 0.2, 0.2) == (2, 1, 2)


def test_refuses_what_is_not_preferred_stimuli():
    with pytest.raises(RetinaCodecError, match="preferred_stimuli"):
        preferred_stimuli_figure(xr.Dataset({"x": ("a", [1.0])}))
