"""Quadrature rules on [0, 1]: the nodes and weights of the path integral in Integrated Gradients."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BarycentricInterpolator

from ..errors import RetinaCodecError

METHODS = (
    "gausslegendre",
    "riemann_trapezoid",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "activation_trapezoid",
)
"""Names of the quadrature rules: Gauss-Legendre and the Riemann rules as Captum spells them, and
``activation_trapezoid``, the trapezoid rule in the layer's activation of the CODEC reference
code (``bscope``)."""


def quadrature(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a quadrature rule for an integral over [0, 1].

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    n_steps : int
        Number of nodes (network evaluations); at least 1 (2 for ``riemann_trapezoid``). For
        ``activation_trapezoid``, the number of steps between its ``n_steps + 1`` nodes.

    Returns
    -------
    alphas : numpy.ndarray
        float64, shape (n_steps,) (``n_steps + 1`` for ``activation_trapezoid``): the nodes,
        increasing, in [0, 1].
    weights : numpy.ndarray
        float64, same shape: the weights; they sum to 1.

    Raises
    ------
    RetinaCodecError
        For an unknown method or too few steps.

    Notes
    -----
    The rules approximate :math:`\\int_0^1 h(\\alpha)\\,d\\alpha \\approx \\sum_k w_k h(\\alpha_k)`:

    - ``gausslegendre``: Gauss-Legendre nodes mapped from [-1, 1] to [0, 1], weights halved;
      exact for polynomials of degree :math:`2n - 1`, error falls faster than any power of
      :math:`1/n` for smooth :math:`h`.
    - ``riemann_trapezoid``: :math:`\\alpha_k = k/(n-1)`, weights :math:`1/(n-1)` with the two
      ends halved (they sum to 1, unlike Captum's, which sum to :math:`(n-1)/n`); error
      :math:`O(n^{-2})`.
    - ``riemann_middle``: :math:`\\alpha_k = (k + 1/2)/n`, weights :math:`1/n`; error :math:`O(n^{-2})`.
    - ``riemann_left`` / ``riemann_right``: :math:`\\alpha_k = k/n` / :math:`(k+1)/n`, weights
      :math:`1/n`; error :math:`O(n^{-1})`.
    - ``activation_trapezoid``: the reference code's rule, :math:`\\alpha_k = k/n` for
      :math:`k = 0 .. n` and the trapezoid weights of those :math:`n + 1` nodes; paired with
      :func:`node_derivatives` it is the trapezoid rule in the layer's activation,
      :math:`\\sum_{i=1}^{n} \\tfrac12 (g_{i-1} + g_i)(a_i - a_{i-1})`; error :math:`O(n^{-2})`.
    """
    if method not in METHODS:
        raise RetinaCodecError(f"unknown quadrature method {method!r}; expected one of {', '.join(METHODS)}")
    minimum = 2 if method == "riemann_trapezoid" else 1
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < minimum:
        raise RetinaCodecError(f"n_steps is {n_steps!r}; expected an integer >= {minimum} for {method}")
    n = int(n_steps)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if method in ("riemann_trapezoid", "activation_trapezoid"):
        points = n if method == "riemann_trapezoid" else n + 1
        weights = np.full(points, 1.0 / (points - 1))
        weights[[0, -1]] /= 2.0
        return np.linspace(0.0, 1.0, points), weights
    offset = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}[method]
    return (np.arange(n) + offset) / n, np.full(n, 1.0 / n)


def node_derivatives(method: str, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights that estimate a path's derivative at the quadrature nodes from its values.

    A function :math:`a(\\alpha)` known at the support points (the nodes and the ends 0 and 1)
    has derivatives at the nodes :math:`a'(\\alpha_k) \\approx \\sum_j D_{kj}\\, a(s_j)`: the
    derivative of the polynomial through the support points, all of them for ``gausslegendre``
    (its nodes cluster at the ends as Chebyshev points do, so the interpolant is stable and the
    estimate converges faster than any power of :math:`1/n` for smooth :math:`a`), and the 3
    nearest ones for the equispaced Riemann rules (error :math:`O(n^{-2})`, as good as those
    rules' own; a global polynomial through equispaced points would be unstable). For
    ``activation_trapezoid`` they are the reference code's chords: the slope of :math:`a` between
    the two neighbouring nodes (one-sided at the ends), so that with the rule's weights
    :math:`\\sum_k w_k g_k \\sum_j D_{kj} a_j = \\sum_i \\tfrac12 (g_{i-1} + g_i)(a_i - a_{i-1})`
    exactly (error :math:`O(n^{-1})` per node at the ends, :math:`O(n^{-2})` for the sum).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    alphas : numpy.ndarray
        The rule's nodes, shape (n,), from :func:`quadrature`.

    Returns
    -------
    support : numpy.ndarray
        float64, shape (s,): the increasing union of the nodes and {0, 1}.
    matrix : numpy.ndarray
        float64, shape (n, s): :math:`D`. It is exact for any :math:`a` linear in
        :math:`\\alpha`.
    """
    support = np.union1d(alphas, [0.0, 1.0])
    if method == "activation_trapezoid":  # its nodes are the support
        return support, _chords(support)
    width = len(support) if method == "gausslegendre" else min(3, len(support))
    matrix = np.zeros((len(alphas), len(support)))
    for k, node in enumerate(alphas):
        nearest = np.sort(np.argsort(np.abs(support - node), kind="stable")[:width])
        with np.errstate(divide="ignore", invalid="ignore"):  # scipy fixes up evaluation at a support point
            matrix[k, nearest] = BarycentricInterpolator(support[nearest], np.eye(width)).derivative(node)
    return support, matrix


def _chords(support: np.ndarray) -> np.ndarray:
    """(s, s): the slope between each node's neighbours, :math:`(a_{k+1} - a_{k-1}) / (\\alpha_{k+1} -
    \\alpha_{k-1})`, with the node itself for the missing neighbour at either end."""
    rows = np.arange(len(support))
    left, right = np.maximum(rows - 1, 0), np.minimum(rows + 1, len(support) - 1)
    span = support[right] - support[left]
    matrix = np.zeros((len(support), len(support)))
    matrix[rows, right] += 1.0 / span
    matrix[rows, left] -= 1.0 / span
    return matrix
