"""The polarity, transience and ON-OFF indices on analytic filters and responses."""

from __future__ import annotations

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.models.cell_types.indices import (
    TailResponses,
    biphasic_index,
    dominant_lobe,
    polarity_z,
    tail_responses,
)

LAGS = np.arange(50) * 0.01  # s


def _gamma(tau: float, n: int = 3) -> np.ndarray:
    t = LAGS / tau
    return t ** (n - 1) * np.exp(-t)


def test_monophasic_filter_has_biphasic_index_zero():
    assert biphasic_index(_gamma(0.02)) == 0.0


def test_difference_of_gammas_gives_the_ratio_of_its_lobes():
    fast, slow = _gamma(0.02), _gamma(0.06)
    kernel = fast / fast.max() - 0.4 * slow / slow.max()
    lag, peak = dominant_lobe(kernel)
    second = -kernel[lag + 1 :].min()
    assert biphasic_index(kernel) == pytest.approx(second / peak)
    assert 0.2 < biphasic_index(kernel) < 0.6
    # the index does not depend on the sign or the scale of the filter
    assert biphasic_index(-3 * kernel) == pytest.approx(biphasic_index(kernel))
    deeper = fast / fast.max() - 0.6 * slow / slow.max()
    assert biphasic_index(deeper) > biphasic_index(kernel)


def test_sine_period_is_perfectly_biphasic():
    kernel = np.sin(2 * np.pi * LAGS / LAGS[-1] * 0.98)
    assert biphasic_index(kernel) == pytest.approx(1.0, abs=0.01)


def test_polarity_of_on_and_off_filters_and_its_size_in_noise_units():
    kernel = _gamma(0.02)
    null = np.full(10, 0.01)
    assert polarity_z(kernel, null) == (1, pytest.approx(kernel.max() / 0.01))
    sign, size = polarity_z(-kernel, -null)
    assert sign == -1 and size == pytest.approx(kernel.max() / 0.01)


def test_bad_filter_is_refused():
    with pytest.raises(RetinaCodecError, match="1-D time course"):
        biphasic_index(np.array([[1.0, 2.0]]))
    with pytest.raises(RetinaCodecError, match="finite"):
        dominant_lobe(np.array([1.0, np.nan]))


def test_tails_of_a_rectifying_and_of_an_on_off_cell():
    rng = np.random.default_rng(0)
    g = rng.normal(size=200_000)
    linear = rng.poisson(np.maximum(g, 0) * 0.5)
    on_off = rng.poisson(np.abs(g) * 0.5)
    one = tail_responses(g, linear)
    both = tail_responses(g, on_off)
    assert one.preferred > 2 and one.opposite == 0 and one.on_off_index <= 0
    assert both.on_off_index == pytest.approx(1.0, abs=0.05) and both.opposite_z > 20
    # the preferred tail is the one with the higher rate, whatever the generator's sign
    assert tail_responses(-g, linear).preferred == pytest.approx(one.preferred)


def test_on_off_index_is_zero_without_a_preferred_response():
    assert TailResponses(0.9, 0.8, 0.0).on_off_index == 0.0
    assert tail_responses(np.zeros(10), np.ones(10)).on_off_index == 0.0
