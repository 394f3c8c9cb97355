"""The boundary checks: plain values back, one clear RetinaCodecError otherwise."""

import math

import numpy as np
import pytest

from retinacodec._validation import available_memory, check_allocation, check_choice, check_int, check_number, shown
from retinacodec.errors import RetinaCodecError


def test_integers_come_back_as_plain_ints_and_booleans_are_refused():
    assert check_int("n", np.int64(3)) == 3 and type(check_int("n", np.int64(3))) is int
    assert check_int("seed", 0, minimum=0) == 0
    for bad in (True, 2.5, "3", None):
        with pytest.raises(RetinaCodecError, match="expected an integer >= 1"):
            check_int("n", bad)
    with pytest.raises(RetinaCodecError, match="n is 0; expected an integer >= 1"):
        check_int("n", 0)


def test_numbers_are_bounded_and_finite():
    assert check_number("rate", np.float32(2.5), strictly_above=0) == 2.5
    assert check_number("p", 1, minimum=0, maximum=1) == 1.0
    for bad in (math.nan, math.inf, -1.0, 0.0):
        with pytest.raises(RetinaCodecError, match="expected a finite number > 0"):
            check_number("rate", bad, strictly_above=0)
    with pytest.raises(RetinaCodecError, match=r"rate is 'x' \(str\)"):
        check_number("rate", "x")
    with pytest.raises(RetinaCodecError, match="< 1"):
        check_number("p", 1.0, strictly_below=1)


def test_choices_and_messages_show_numpy_values_as_typed():
    assert check_choice("kind", "a", ("a", "b")) == "a"
    with pytest.raises(RetinaCodecError, match="kind is 'c'; expected one of: a, b"):
        check_choice("kind", np.str_("c"), ("a", "b"))
    assert shown(np.int64(9)) == "9" and shown(np.float64(0.5)) == "0.5" and shown("x") == "'x'"
    with pytest.raises(RetinaCodecError, match=r"n is 2\.5 \(float64\)"):
        check_int("n", np.float64(2.5))


def test_allocations_beyond_memory_are_refused_with_their_size():
    assert available_memory() is not None and available_memory() > 0
    assert check_allocation(1000, 4, "a small array") == 4000
    with pytest.raises(RetinaCodecError, match=r"a huge array would need 3\.55 PiB of memory; expected") as info:
        check_allocation(10**15, 4, "a huge array")
    assert "available" in str(info.value) and "\n" not in str(info.value)
