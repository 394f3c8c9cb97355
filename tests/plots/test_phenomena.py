"""The figure of the phenomena by mode."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.phenomena import KIND
from retinacodec.hypotheses.phenomena_check import CHECK_KIND
from retinacodec.plots.phenomena import plot_phenomena

TYPES = ["on", "off", "oms"]


def _by_mode() -> xr.Dataset:
    rng = np.random.default_rng(0)
    part = rng.normal(size=(2, 3, 8))
    part[0, 0] = 0.0
    part[0, 0, 6] = 4.0  # mode 6 carries light onset in ON cells alone
    contrast = part.sum(axis=-1) + 0.5
    contrast[1, 2] = 0.01  # too small a contrast to share out
    return xr.Dataset(
        {
            "mode_contrast": (("phenomenon", "cell_type", "mode"), part),
            "contrast": (("phenomenon", "cell_type"), contrast),
            "unassigned": (("phenomenon", "cell_type"), np.full((2, 3), 0.5)),
            "share": (("phenomenon", "cell_type", "mode"), part / contrast[..., None]),
        },
        coords={"phenomenon": ["light_onset", "object_motion"], "cell_type": TYPES, "mode": np.arange(8)},
        attrs={"kind": KIND},
    )


def _checked() -> xr.Dataset:
    reduction = np.array([[0.9, 1.0, 0.95], [0.1, 0.2, 0.0]])
    return xr.Dataset(
        {
            "reduction": (("claim", "seed"), reduction),
            "control_reduction": (("claim", "control", "seed"), np.zeros((2, 2, 3))),
            "block": ("claim", ["bipolar_on_sustained", "amacrine_narrow"]),
            "verdict": ("claim", ["confirmed", "refuted"]),
        },
        coords={
            "phenomenon": ("claim", ["light_onset", "object_motion"]),
            "cell_type": ("claim", ["on", "oms"]),
            "control": ["amacrine_wide", "bipolar_off_transient"],
            "seed": [1, 2, 3],
        },
        attrs={"kind": CHECK_KIND, "rule_min_reduction": 0.25},
    )


def test_one_share_map_per_phenomenon_with_the_leading_modes_and_the_rest():
    fig = plot_phenomena(_by_mode(), max_modes=3)
    assert len(fig.axes) == 2
    light = fig.axes[0]
    labels = [t.get_text() for t in light.get_xticklabels()]
    assert labels[0] == "mode 6" and labels[-2:] == ["other modes", "unassigned"] and len(labels) == 5
    shown = light.images[0].get_array()
    np.testing.assert_allclose(shown[0], [4 / 4.5, 0, 0, 0, 0.5 / 4.5], atol=1e-9)
    # each row's modes, the other modes and the unassigned part make up its contrast
    np.testing.assert_allclose(np.asarray(shown).sum(axis=1), 1.0)
    assert np.isnan(np.asarray(fig.axes[1].images[0].get_array())[2]).all()  # a near-zero contrast is left blank


def test_modes_are_labelled_with_their_matched_pathway_when_known():
    named = _by_mode().assign(pathway=("mode", ["", "", "", "", "", "", "amacrine_wide", ""]))
    labels = [t.get_text() for t in plot_phenomena(named, max_modes=2).axes[0].get_xticklabels()]
    assert labels[0] == "mode 6 (wide-field amacrine)" and not labels[1].endswith(")")


def test_the_checked_panel_shows_the_block_and_every_control_per_claim():
    fig = plot_phenomena(_by_mode(), _checked())
    blocks = fig.axes[-1]
    assert len(fig.axes) == 3
    assert len(blocks.get_xticklabels()) == 2 and "confirmed" in blocks.get_xticklabels()[0].get_text()
    assert [t.get_text() for t in blocks.get_legend().get_texts()] == [
        "block",
        "control: wide-field amacrine",
        "control: OFF transient bipolar",
    ]


def test_refuses_what_is_not_phenomena_by_mode():
    with pytest.raises(RetinaCodecError, match="phenomena_by_mode"):
        plot_phenomena(xr.Dataset())
    with pytest.raises(RetinaCodecError, match="check_phenomena"):
        plot_phenomena(_by_mode(), xr.Dataset())
