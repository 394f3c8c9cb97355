"""Option values shared by subcommands: times and ranges, refused when they cannot fit in memory."""

import numpy as np
import pytest

from retinacodec.cli._parsing import parse_ints, parse_times
from retinacodec.errors import RetinaCodecError


def test_times_and_ranges_are_read_in_the_order_given():
    np.testing.assert_allclose(parse_times("0.5,1:1.5:0.25,2:2.1", 10.0), [0.5, 1.0, 1.25, 1.5, 2.0, 2.1])
    assert parse_ints("0,3", "--cells") == [0, 3]


@pytest.mark.parametrize("text", ["0.5:0.6:1e-12", "0:1e300:1e-300"])
def test_a_range_beyond_memory_is_refused_before_allocating(text):
    with pytest.raises(RetinaCodecError, match=r"--times range '.*' \(\d+ times\) would need .* of memory") as info:
        parse_times(text, 30.0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["a", "1:0", "0:1:0", "0:nan", "1,"])
def test_unreadable_times_are_refused(text):
    with pytest.raises(RetinaCodecError, match="cannot read --times item"):
        parse_times(text, 30.0)
