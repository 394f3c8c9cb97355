"""Which channels a control experiment silences: hand-made modes of a small random retina CNN, the
mode chosen by hand or by its ties to a target, the top channels and the checks against the model."""

import json

import numpy as np
import pytest
import xarray as xr

from retinacodec.control.choice import ModeSource, choose_channels, curve_rankings, target_name
from retinacodec.control.curves.retina import target_rankings
from retinacodec.errors import RetinaCodecError
from retinacodec.modes.result import Modes
from retinacodec.stimuli import white_noise

LAYER = "amacrine"


@pytest.fixture(scope="module")
def model(make_cnn):
    return make_cnn(3, history=40, amacrine_channels=4)


@pytest.fixture(scope="module")
def stimulus():
    return white_noise(n_frames=45, size=16, seed=0)


def hand_made(variable="contribution", n_channels=4, layer=LAYER) -> Modes:
    """Three modes: mode 0 on channels 0 > 1, mode 1 on channels 3 > 2, mode 2 on channel 1; mode 1
    loads on the OMS samples only, mode 0 on the others."""
    dictionary = np.zeros((3, n_channels))
    dictionary[0, :2] = [1.0, 0.5]
    dictionary[1, 2:4] = [0.4, 1.0]
    dictionary[2, 1] = 1.0
    loadings = np.array([[1.0, 0.0, 0.2], [0.8, 0.0, 0.1], [0.0, 1.0, 0.3], [0.0, 0.9, 0.2]])
    attrs = {"layer": layer, "sae_params": json.dumps({"variable": variable})}
    return Modes.from_dataset(
        xr.Dataset(
            {"modes": (("mode", "channel"), dictionary, attrs), "loadings": (("sample", "mode"), loadings)},
            coords={"cell": ("sample", [0, 1, 2, 3]), "cell_type": ("sample", ["on", "on", "oms", "oms"])},
        )
    )


def test_a_mode_chosen_by_hand_and_one_tied_to_the_oms_cells_give_their_top_channels(model, stimulus):
    sources = [
        ModeSource(hand_made(), "contribution", "c.nc"),
        ModeSource(hand_made("activation"), "activation", "a.nc", mode=2),
    ]
    choice = choose_channels(model, stimulus, sources, fraction=0.5)
    assert (choice.layer, choice.target) == (LAYER, ("cell_type", "oms"))
    contribution, activation = choice.choices["contribution"], choice.choices["activation"]
    assert (contribution.mode, contribution.rule, contribution.name) == (1, "most tied to type:oms", "c.nc")
    assert (activation.mode, activation.rule) == (2, "chosen by hand")
    np.testing.assert_array_equal(contribution.channels, [3, 2])
    np.testing.assert_array_equal(activation.channels, [1, 0])  # ties keep channel order
    assert contribution.n_channels == 4
    attrs = choice.attrs()
    assert attrs["selection_rule"] == "contribution: mode 1, most tied to type:oms; activation: mode 2, chosen by hand"
    assert (attrs["target_kind"], attrs["target_label"], attrs["fraction"]) == ("cell_type", "oms", 0.5)
    np.testing.assert_array_equal(attrs["channels_contribution"], [3, 2])
    assert list(choice.channels) == ["contribution", "activation"]


def test_a_named_target_picks_its_own_mode(model, stimulus):
    choice = choose_channels(
        model, stimulus, [ModeSource(hand_made(), "contribution", "c.nc")], target=("cell", 0), fraction=0.25
    )
    assert choice.choices["contribution"].mode == 0 and choice.target == ("cell", 0)
    np.testing.assert_array_equal(choice.choices["contribution"].channels, [0])
    assert target_name(("cell", 0)) == "cell:0" and target_name(("cell_type", "on")) == "type:on"


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        (ModeSource(hand_made("activation"), "contribution", "c.nc"), {}, "c.nc holds modes of the activation"),
        (ModeSource(hand_made(), "contribution", "c.nc"), {"layer": "bipolar"}, "c.nc: the modes were fitted on"),
        (ModeSource(hand_made(n_channels=5), "contribution", "c.nc"), {}, "c.nc: the modes have 5 channels"),
        (ModeSource(hand_made(), "contribution", "c.nc"), {"target": ("cell", 9)}, "no sample of c.nc is of cell:9"),
        (ModeSource(hand_made(), "contribution", "c.nc", mode=3), {}, "mode 3 is out of range"),
        (
            ModeSource(Modes.from_dictionary(hand_made().dictionary), "contribution", "d.nc"),
            {},
            "d.nc holds no loadings to pick a mode by",
        ),
    ],
)
def test_modes_that_do_not_fit_the_request_are_refused(model, stimulus, source, options, message):
    with pytest.raises(RetinaCodecError, match=message):
        choose_channels(model, stimulus, [source], **options)


def test_curve_rankings_are_every_types_ranking_and_need_loadings(model):
    modes = hand_made()
    layer, rankings = curve_rankings(model, [ModeSource(modes, "contribution", "c.nc")])
    assert layer == LAYER and list(rankings) == ["contribution"]
    expected = target_rankings(modes)
    assert list(rankings["contribution"]) == ["on", "oms"]
    for label, channels in expected.items():
        np.testing.assert_array_equal(rankings["contribution"][label], channels)
    np.testing.assert_array_equal(rankings["contribution"]["oms"], [3, 2, 0, 1])
    bare = ModeSource(Modes.from_dictionary(modes.dictionary), "contribution", "d.nc")
    with pytest.raises(RetinaCodecError, match="d.nc holds no loadings; --curves expects"):
        curve_rankings(model, [bare])
    with pytest.raises(RetinaCodecError, match="at least one set of modes"):
        curve_rankings(model, [])
