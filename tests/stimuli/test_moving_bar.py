"""Moving bar: the centroid moves at the set speed along the set direction; bar area and sign."""

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import moving_bar


def _centroid_track(stim, direction_deg):
    """Centroid of the bar along the direction, from pixel coordinates built here."""
    y, x = np.meshgrid(np.arange(stim.sizes["y"]), np.arange(stim.sizes["x"]), indexing="ij")
    centre = (stim.sizes["x"] - 1) / 2
    theta = np.deg2rad(direction_deg)
    along = (x - centre) * np.cos(theta) + (y - centre) * np.sin(theta)
    weights = np.abs(stim.values).reshape(stim.sizes["time"], -1)
    visible = weights.sum(axis=1) > 0
    track = (weights[visible] @ along.ravel()) / weights[visible].sum(axis=1)
    return stim["time"].values[visible], track


@pytest.mark.parametrize("direction_deg", [0.0, 90.0, 180.0, 36.87])
def test_bar_centroid_moves_at_the_set_speed(direction_deg):
    stim = moving_bar(n_frames=300, size=40, width_px=3.0, speed_px_s=25.0, direction_deg=direction_deg)
    times, track = _centroid_track(stim, direction_deg)
    central = np.abs(track) < 10  # bar well inside the frame
    slope = np.polyfit(times[central], track[central], 1)[0]
    assert slope == pytest.approx(25.0, rel=0.02)


def test_bar_area_sign_and_entry():
    stim = moving_bar(n_frames=200, size=30, width_px=4.0, contrast=-0.5, speed_px_s=30.0)
    values = stim.values
    assert values.max() == 0.0 and values.min() == pytest.approx(-0.5)
    assert not values[0].any()  # starts outside the field
    # once fully inside, every row holds exactly width_px of bar (anti-aliased coverage)
    inside = np.abs(stim["bar_position_px"].values) < 10
    np.testing.assert_allclose(values[inside].sum(axis=2), -0.5 * 4.0, rtol=1e-5)
    assert not values[-1].any()  # and has left by the end (crossing takes 1.2 s of 2 s)


def test_bad_speed_raises():
    with pytest.raises(RetinaCodecError, match="speed_px_s is 0"):
        moving_bar(speed_px_s=0)


def test_a_bar_narrower_than_a_hundredth_of_a_pixel_is_refused():
    """Such a bar would render as a blank stimulus (under 1 % of its contrast on every pixel)."""
    with pytest.raises(RetinaCodecError, match=r"width_px is 1e-300; expected a finite number >= 0.01"):
        moving_bar(width_px=1e-300)
    assert float(abs(moving_bar(n_frames=50, size=10, width_px=0.01, speed_px_s=50.0)).max()) >= 0.0099
