"""Quadrature rules and node-derivative estimates against analytic answers and their textbook orders."""

import math

import numpy as np
import pytest

from retinacodec.attribution.quadrature import METHODS, node_derivatives, quadrature
from retinacodec.errors import RetinaCodecError


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [2, 5, 16])
def test_nodes_lie_in_the_unit_interval_and_weights_sum_to_one(method, n):
    alphas, weights = quadrature(method, n)
    assert alphas.shape == weights.shape == (n + 1 if method == "activation_trapezoid" else n,)
    assert np.all((alphas >= 0) & (alphas <= 1)) and np.all(np.diff(alphas) > 0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_gauss_legendre_is_exact_up_to_degree_2n_minus_1(n):
    alphas, weights = quadrature("gausslegendre", n)
    for degree in range(2 * n):
        assert weights @ alphas**degree == pytest.approx(1 / (degree + 1), rel=1e-12)
    assert abs(weights @ alphas ** (2 * n) * (2 * n + 1) - 1) > 1e-9  # and no further


def test_riemann_rules_on_the_identity_match_hand_sums():
    n = 10
    exact = {
        "riemann_trapezoid": 0.5,
        "riemann_middle": 0.5,
        "riemann_left": (n - 1) / (2 * n),
        "riemann_right": (n + 1) / (2 * n),
    }
    for method, value in exact.items():
        alphas, weights = quadrature(method, n)
        assert weights @ alphas == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    "method, order", [("riemann_left", 1), ("riemann_right", 1), ("riemann_middle", 2), ("riemann_trapezoid", 2)]
)
def test_riemann_errors_fall_at_the_textbook_order(method, order):
    exact = 1 - math.cos(1.0)  # integral of sin over [0, 1]
    errors = [abs(np.sin(a) @ w - exact) for a, w in (quadrature(method, n) for n in (64, 128))]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.05)


def test_gauss_legendre_error_falls_faster_than_any_riemann_rule():
    exact = 1 - math.cos(1.0)
    alphas, weights = quadrature("gausslegendre", 6)
    assert abs(np.sin(alphas) @ weights - exact) < 1e-12


@pytest.mark.parametrize(
    "method, n",
    [("simpson", 10), ("gausslegendre", 0), ("riemann_trapezoid", 1), ("riemann_left", 2.5), ("riemann_left", True)],
)
def test_bad_rule_or_step_count_is_a_retinacodec_error(method, n):
    with pytest.raises(RetinaCodecError, match="method|n_steps"):
        quadrature(method, n)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "activation_trapezoid"])
def test_node_derivatives_are_exact_for_quadratics_and_keep_the_support_ends(method):
    alphas, _ = quadrature(method, 9)
    support, matrix = node_derivatives(method, alphas)
    assert support[0] == 0.0 and support[-1] == 1.0 and np.isin(alphas, support).all()
    assert np.allclose(matrix @ (3 * support**2 - support + 2), 6 * alphas - 1, atol=1e-10)


@pytest.mark.parametrize("method, order", [("riemann_middle", 2), ("riemann_trapezoid", 2)])
def test_node_derivatives_of_riemann_rules_converge_at_second_order(method, order):
    errors = []
    for n in (64, 128):
        alphas, _ = quadrature(method, n)
        support, matrix = node_derivatives(method, alphas)
        errors.append(np.abs(matrix @ np.sin(3 * support) - 3 * np.cos(3 * alphas)).max())
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.1)


def test_node_derivatives_of_gauss_legendre_converge_spectrally():
    for n, tolerance in ((8, 1e-5), (16, 1e-11)):
        alphas, _ = quadrature("gausslegendre", n)
        support, matrix = node_derivatives("gausslegendre", alphas)
        assert np.abs(matrix @ np.sin(3 * support) - 3 * np.cos(3 * alphas)).max() < tolerance


def test_activation_trapezoid_has_n_plus_one_even_nodes_and_trapezoid_weights():
    alphas, weights = quadrature("activation_trapezoid", 4)
    assert np.array_equal(alphas, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.array_equal(weights, [0.125, 0.25, 0.25, 0.25, 0.125])
    assert quadrature("activation_trapezoid", 1)[0].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("n", [1, 2, 7])
def test_activation_trapezoid_weighted_derivatives_are_the_reference_sum(n):
    """sum_k w_k g_k (D a)_k is bscope's sum_i (g[i-1] + g[i]) / 2 * (a[i] - a[i-1]) for any g and a."""
    alphas, weights = quadrature("activation_trapezoid", n)
    support, matrix = node_derivatives("activation_trapezoid", alphas)
    assert np.array_equal(support, alphas)
    rng = np.random.default_rng(n)
    for _ in range(5):
        g, a = rng.normal(size=n + 1), rng.normal(size=n + 1)
        reference = sum(0.5 * (g[i - 1] + g[i]) * (a[i] - a[i - 1]) for i in range(1, n + 1))
        assert (weights * g) @ (matrix @ a) == pytest.approx(reference, rel=1e-12, abs=1e-14)
    assert np.allclose(matrix @ (2 * support - 1), 2)  # exact for a linear path
    assert np.allclose(matrix @ np.ones(n + 1), 0, atol=1e-12)
