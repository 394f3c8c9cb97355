"""Phenomena by mode checked on the virtual retina: the block of the leading mode's pathway against
control blocks, with rules fixed in code."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.phenomena import KIND
from retinacodec.hypotheses.phenomena_check import (
    PhenomenonRules,
    check_phenomena,
    control_pathways,
    mode_pathways,
    retina_phenomena,
)
from retinacodec.models.virtual_retina import PATHWAYS
from retinacodec.stimuli.base import make_stimulus
from retinacodec.stimuli.object_motion import square_wave_pixels

TYPES = ["on", "off", "on_off", "oms"]
QUICK = PhenomenonRules(seeds=(101, 102, 103, 104), oms_frames=300)


def test_the_virtual_retina_shows_flash_responses_and_object_motion_sensitivity(retina):
    shown = retina_phenomena(retina, QUICK).isel(seed=0)
    assert float(shown.sel(phenomenon="light_onset", cell_type="on")) > 20  # ON up at light onset
    assert float(shown.sel(phenomenon="dark_onset", cell_type="off")) > 20  # OFF up at dark onset
    assert float(shown.sel(phenomenon="light_onset", cell_type="off")) < 0  # and down at light onset
    oms = shown.sel(phenomenon="object_motion")
    assert float(oms.sel(cell_type="oms")) > 0.2
    assert float(abs(oms.drop_sel(cell_type="oms")).max()) < 0.1


def _claimed(leading: str, others: list[str]) -> tuple[xr.Dataset, xr.DataArray]:
    """A phenomena-by-mode result in which mode 0 carries object motion in every type, and the
    pathways the modes are matched to (mode 0 to ``leading``)."""
    names = [leading, *others]
    share = np.zeros((1, 4, len(names)))
    share[..., 0] = 1.0
    by_mode = xr.Dataset(
        {
            "share": (("phenomenon", "cell_type", "mode"), share),
            "leading_mode": (("phenomenon", "cell_type"), np.zeros((1, 4), dtype=int)),
        },
        coords={
            "phenomenon": ["object_motion"],
            "cell_type": ["on", "off", "on_off", "oms"],
            "mode": range(len(names)),
        },
        attrs={"kind": KIND},
    )
    return by_mode, xr.DataArray(names, dims="mode", coords={"mode": range(len(names))})


def test_the_block_test_confirms_a_planted_pathway_and_refutes_a_wrong_one(retina):
    named = ["bipolar_on_sustained", "bipolar_off_sustained", "bipolar_on_transient", "bipolar_off_transient"]
    # the wide-field amacrine makes the OMS cell object-motion sensitive; the narrow-field one does not
    right = check_phenomena(*_claimed("amacrine_wide", named), retina, QUICK)
    assert list(right["control"].values) == ["amacrine_narrow"]
    assert list(right["cell_type"].values) == ["oms"]  # the only type the retina shows it in
    assert right["verdict"].values.tolist() == ["confirmed"]
    assert float(right["reduction_mean"][0]) > 0.5 and float(right["difference_low"].min()) > 0
    np.testing.assert_allclose(right["reduction"], (right["unblocked"] - right["blocked"]) / right["unblocked"])
    wrong = check_phenomena(*_claimed("amacrine_narrow", named), retina, QUICK)
    assert list(wrong["control"].values) == ["amacrine_wide"]
    assert wrong["verdict"].values.tolist() == ["refuted"]
    assert float(wrong["difference_high"].max()) < 0


def test_controls_are_the_pathways_no_mode_names_else_the_least_named_one():
    pathways = xr.DataArray(["amacrine_wide", "", "bipolar_on_sustained"], dims="mode")
    assert control_pathways(pathways, PATHWAYS) == [
        "bipolar_off_sustained",
        "bipolar_on_transient",
        "bipolar_off_transient",
        "amacrine_narrow",
    ]
    every = xr.DataArray([*PATHWAYS, *PATHWAYS[1:]], dims="mode")
    assert control_pathways(every, PATHWAYS) == [PATHWAYS[0]]


def test_each_live_mode_is_matched_to_a_pathway_and_dead_ones_to_none(small_cnn, stimulus, retina):
    atoms = np.zeros((3, 4))
    atoms[0, 1] = 1.0
    atoms[2, [0, 3]] = 1.0
    found = mode_pathways(small_cnn, atoms, "amacrine", retina, stimulus)
    assert found.dims == ("mode",) and found.values[1] == ""
    assert set(found.values[[0, 2]]) <= set(PATHWAYS)


def test_bad_rules_and_inputs_raise_one_clear_error(retina):
    with pytest.raises(RetinaCodecError, match="seeds"):
        PhenomenonRules(seeds=())
    with pytest.raises(RetinaCodecError, match="level"):
        PhenomenonRules(level=1.0)
    with pytest.raises(RetinaCodecError, match="phenomena_by_mode"):
        check_phenomena(xr.Dataset(), xr.DataArray([""], dims="mode"), retina, QUICK)


def test_the_virtual_retina_shows_no_omitted_stimulus_response_so_it_is_not_among_the_phenomena(retina):
    """The check behind leaving the omitted-stimulus response out: after a 10 Hz train of dark
    flashes stops, no cell type fires a burst at the missing flash's time (a real retina's OFF and
    ON-OFF cells do, Schwartz et al. 2007); every type stays below 1.5 times its last cycle's peak."""
    frames = np.zeros((300, 50, 50), np.float32)
    onsets = range(50, 200, 10)
    for onset in onsets:
        frames[onset : onset + 3] = -1.0
    rate = retina.respond(make_stimulus(frames, 100.0, kind="omitted_flash"))["rate"]
    last = onsets[-1]
    for cell_type in TYPES:
        mean = rate.values[:, rate["cell_type"].values == cell_type].mean(axis=1)
        assert mean[last + 10 : last + 30].max() < 1.5 * mean[last : last + 10].max()


def test_the_virtual_retina_shows_no_motion_reversal_burst_so_it_is_not_among_the_phenomena(retina):
    """The check behind leaving motion reversal out: a real retina's fast OFF cells fire a burst
    after a drifting grating reverses, whatever the grating (Schwartz et al. 2007); in the virtual
    retina every type fires less in the 250 ms after a reversal than under continued motion for
    one of two gratings (period and speed), so what it does at a reversal depends on the grating."""
    time, reversal = np.arange(400), 250
    x = np.arange(50.0)[None, None, :]
    lower = {cell_type: False for cell_type in TYPES}
    for period, speed in ((8.0, 0.2), (16.0, 0.4)):
        rates = {}
        for name, shift in (
            ("reversed", np.where(time < reversal, speed * time, speed * (2 * reversal - time))),
            ("continued", speed * time),
        ):
            frames = np.broadcast_to(square_wave_pixels(x - shift[:, None, None], period), (400, 50, 50))
            rates[name] = retina.respond(make_stimulus(frames.astype(np.float32), 100.0, kind="grating"))["rate"]
        for cell_type in TYPES:
            after = [
                rates[name].values[reversal : reversal + 25, rates[name]["cell_type"].values == cell_type].mean()
                for name in ("reversed", "continued")
            ]
            lower[cell_type] |= bool(after[0] < after[1])
    assert all(lower.values())
