"""Phenomena by mode in the CNN: contributions to each response contrast, split by mode."""

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.phenomena import (
    PHENOMENA,
    PhenomenaSettings,
    condition_windows,
    phenomena_by_mode,
)
from retinacodec.modes.result import Modes
from retinacodec.modes.workflow import fit_modes
from retinacodec.targets import Cell

QUICK = PhenomenaSettings(oms_frames=120, oms_discard_frames=20, oms_stride=10, n_steps=8)


@pytest.fixture(scope="module")
def fitted(small_cnn, stimulus):
    """Contribution modes of the small CNN's amacrine layer, with their SAE."""
    found = contributions(
        small_cnn,
        stimulus.isel(time=slice(0, 40)),
        "amacrine",
        [Cell(i) for i in range(small_cnn.n_cells)],
        n_steps=8,
        options=AttributionOptions(split="sign", activation="cell", progress=False),
    )
    sae, _ = fit_modes(found, labels="cell_type", n_modes=6, epochs=3, seed=0, progress=False)
    return sae


def test_contributions_to_each_contrast_are_complete_and_add_up_by_mode(small_cnn, fitted):
    ds = phenomena_by_mode(small_cnn, fitted, "amacrine", QUICK)
    assert list(ds["phenomenon"].values) == list(PHENOMENA)
    assert ds.sizes["cell_type"] == 4 and ds.sizes["mode"] == 6
    # the modes' parts and the unassigned rest add up to the contrast, up to the IG's completeness error
    total = ds["mode_contrast"].sum("mode") + ds["unassigned"]
    np.testing.assert_allclose(total - ds["contrast"], ds["completeness_error"], atol=1e-4)
    assert float(abs(ds["completeness_error"]).max()) <= 0.02 * float(abs(ds["contrast"]).max()) + 1e-3
    # the contrast is the CNN's own: its predicted rates, response minus reference, per type
    response, reference = condition_windows(small_cnn, "object_motion", QUICK)
    with torch.no_grad():
        predicted = (small_cnn(response).mean(0) - small_cnn(reference).mean(0)).numpy()
    types = np.asarray(small_cnn.cell_type)
    expected = [predicted[types == t].mean() for t in ds["cell_type"].values]
    np.testing.assert_allclose(ds["contrast"].sel(phenomenon="object_motion"), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds["share"], ds["mode_contrast"] / ds["contrast"])


class _Constant:
    """A stand-in encoder: every mode equally active in every sample."""

    def __init__(self, n_modes: int):
        self.n_modes = n_modes

    def transform(self, found):
        return np.ones((found.sizes["sample"], self.n_modes))


def test_a_planted_mode_that_carries_the_contrast_is_found(make_virtual_retina_cnn):
    model = make_virtual_retina_cnn(seed=5)
    readout = model.ganglion[1].weight  # (cell, channel x y x x), channel-major
    with torch.no_grad():
        readout.view(readout.shape[0], 4, -1)[:, [0, 1, 3]] = 0.0  # only channel 2 reaches the cells
    atoms = np.zeros((3, 4, 2))
    atoms[0, [0, 1]] = 1.0  # mode 0: channels 0, 1; mode 1: channel 2; mode 2: channel 3
    atoms[1, 2] = 1.0
    atoms[2, 3] = 1.0
    dictionary = xr.DataArray(atoms, dims=("mode", "channel", "sign"), coords={"sign": ["neg", "pos"]})
    dictionary = dictionary.stack(feature=("channel", "sign")).assign_coords(mode=[0, 1, 2])
    modes = Modes(dictionary, sae=_Constant(3))
    ds = phenomena_by_mode(model, modes, "amacrine", QUICK)
    carried = abs(ds["contrast"]) > 1e-3
    assert bool(carried.any())
    assert (ds["leading_mode"].where(carried) == 1).sum() == carried.sum()
    np.testing.assert_allclose(ds["share"].sel(mode=1).where(carried, 1.0), 1.0, atol=1e-3)
    np.testing.assert_allclose(ds["share"].sel(mode=[0, 2]).where(carried, 0.0), 0.0, atol=1e-3)


def test_the_flash_windows_end_at_the_onset_response_and_the_grey_before_it(small_cnn):
    response, reference = condition_windows(small_cnn, "light_onset", QUICK)
    assert response.shape[0] == 30 and reference.shape[0] == 40
    grey = float((0.0 - small_cnn.stimulus_mean) / small_cnn.stimulus_std)
    light = float((1.0 - small_cnn.stimulus_mean) / small_cnn.stimulus_std)
    assert torch.allclose(response[:, -1], torch.tensor(light))  # the newest frame of every window is light
    assert torch.allclose(reference[:, -1], torch.tensor(grey))
    dark = condition_windows(small_cnn, "dark_onset", QUICK)[0]
    assert float(dark[0, -1, 0, 0]) < grey < light


def test_bad_settings_and_modes_without_an_encoder_raise_one_clear_error(small_cnn, fitted):
    with pytest.raises(RetinaCodecError, match="expected one or more of"):
        PhenomenaSettings(phenomena=("motion_reversal",))
    with pytest.raises(RetinaCodecError, match="oms_stride"):
        PhenomenaSettings(oms_stride=0)
    with pytest.raises(RetinaCodecError, match="fewer than oms_frames"):
        PhenomenaSettings(oms_frames=50, oms_discard_frames=50)
    with pytest.raises(RetinaCodecError, match="without their SAE"):
        phenomena_by_mode(small_cnn, Modes.from_dictionary(np.ones((2, 4))), "amacrine", QUICK)
