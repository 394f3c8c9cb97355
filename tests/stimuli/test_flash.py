"""Flash: step timing counted by hand, full-field values, phase labels."""

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import flash


def test_light_and_dark_phases_switch_on_the_expected_frames():
    # period 0.5 s = 50 frames at 100 Hz, duty 0.3: light on frames 0-14 of every cycle
    stim = flash(n_frames=120, size=4, period_s=0.5, duty_cycle=0.3, contrast=0.8)
    trace = stim.values[:, 0, 0]
    switches = np.flatnonzero(np.diff(trace)) + 1
    np.testing.assert_array_equal(switches, [15, 50, 65, 100, 115])
    assert trace[0] == pytest.approx(0.8) and trace[20] == pytest.approx(-0.8)
    np.testing.assert_array_equal(np.unique(trace), np.float32([-0.8, 0.8]))
    assert (stim.values == trace[:, None, None]).all()  # full field
    np.testing.assert_array_equal(stim["phase"].values == "light", trace > 0)


def test_duty_cycle_sets_the_light_fraction_at_another_frame_rate():
    stim = flash(n_frames=600, size=2, frame_rate_hz=60, period_s=1.0, duty_cycle=0.25)
    light = stim.values[:, 0, 0] > 0
    assert light.mean() == pytest.approx(0.25)
    assert light[:15].all() and not light[15:60].any()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"duty_cycle": 1.0}, "duty_cycle is 1"),
        ({"period_s": 0.0}, "period_s is 0"),
        ({"contrast": 2.0}, "contrast is 2"),
    ],
)
def test_bad_parameters_raise(kwargs, fragment):
    with pytest.raises(RetinaCodecError, match=fragment):
        flash(**kwargs)
