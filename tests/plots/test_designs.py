"""The figure of designed test stimuli."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.plots.designs import designed_stimuli_figure


def _designs(checked: bool) -> xr.Dataset:
    rng = np.random.default_rng(0)
    types = ["on", "off", "oms"]
    ds = xr.Dataset(
        {
            "test_stimulus": (("hypothesis", "time", "y", "x"), rng.uniform(-0.3, 0.3, (2, 10, 8, 8))),
            "design_target": (("hypothesis", "type"), [[1, 0, 0], [0, -1, 1]]),
            "designed_z": (("hypothesis", "type"), rng.normal(size=(2, 3))),
            "jitter_z": (("hypothesis", "type"), rng.normal(size=(2, 3))),
        },
        coords={"hypothesis": ["bipolar-0", "amacrine-0"], "type": types, "time": np.arange(10) / 100},
        attrs={"design_max_contrast": 0.4},
    )
    if checked:
        ds["observed_designed_z"] = ds["designed_z"] * 0.5
        ds["observed_jitter_z"] = ds["jitter_z"] * 0.5
    return ds


@pytest.mark.parametrize("checked", [False, True])
def test_one_row_per_hypothesis_with_frames_and_the_bars_present(checked):
    fig = designed_stimuli_figure(_designs(checked))
    bars = fig.axes[4]  # the first row: 4 frames, then its bars
    assert len(fig.axes) == 2 * 5
    assert len(bars.patches) == 3 * (4 if checked else 2)
    assert [t.get_text() for t in bars.get_xticklabels()] == ["ON *", "OFF", "OMS"]


def test_refuses_what_is_not_designs():
    with pytest.raises(RetinaCodecError):
        designed_stimuli_figure(xr.Dataset())
