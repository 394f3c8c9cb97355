"""Planted sparse dictionary problems with a known answer, and how well a dictionary recovers
it: the ground truth for tests and for ``python -m retinacodec.bench sae``."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import RetinaCodecError

MAX_DRAWS = 1000
"""Fresh atoms drawn, at most, for the partner of a correlated pair before giving up."""


def planted_problem(
    n_samples: int = 2000,
    n_features: int = 24,
    n_atoms: int = 12,
    n_active: int = 3,
    noise: float = 0.01,
    density: float = 0.3,
    pair_cosine: float | None = None,
    clip: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative data made of a known sparse non-negative dictionary.

    Parameters
    ----------
    n_samples, n_features, n_atoms : int
        Data size and number of true atoms.
    n_active : int
        Atoms active in each sample, drawn uniformly without replacement.
    noise : float
        Standard deviation of the added Gaussian noise (in the units of the unit-norm atoms).
    density : float
        Expected fraction of non-zero entries of an atom (each atom also gets one guaranteed
        entry, so none is empty).
    pair_cosine : float or None
        When given, atoms come in pairs (0, 1), (2, 3), ... whose cosine similarity is exactly
        this value (in (0, 1)): the second atom of a pair is the first one plus a fresh
        non-negative atom, mixed in the proportion that gives that cosine.
    clip : bool
        Clip the data at 0 after adding the noise (True), or keep the noise's negative values
        as a rig would record them (False).
    seed : int
        Seed of the generator.

    Returns
    -------
    x : numpy.ndarray
        float32 (n_samples, n_features) data: each row the sum of ``n_active`` atoms with
        amplitudes uniform in [0.5, 1.5], plus noise.
    atoms : numpy.ndarray
        (n_atoms, n_features) true atoms, non-negative with unit norm.

    Raises
    ------
    RetinaCodecError
        If ``pair_cosine`` is outside (0, 1), or lies below the cosine that two fresh atoms
        of this density already have so often that no pair can be built.
    """
    rng = np.random.default_rng(seed)
    atoms = _random_atoms(rng, n_atoms, n_features, density)
    if pair_cosine is not None:
        atoms = _correlate_pairs(rng, atoms, pair_cosine, density)
    active = np.argsort(rng.random((n_samples, n_atoms)), axis=1)[:, :n_active]
    codes = np.zeros((n_samples, n_atoms))
    np.put_along_axis(codes, active, rng.uniform(0.5, 1.5, (n_samples, n_active)), axis=1)
    x = codes @ atoms + noise * rng.standard_normal((n_samples, n_features))
    return (np.clip(x, 0.0, None) if clip else x).astype(np.float32), atoms


def _random_atoms(rng: np.random.Generator, n_atoms: int, n_features: int, density: float) -> np.ndarray:
    atoms = rng.random((n_atoms, n_features)) * (rng.random((n_atoms, n_features)) < density)
    atoms[np.arange(n_atoms), rng.integers(0, n_features, n_atoms)] += 1.0
    return atoms / np.linalg.norm(atoms, axis=1, keepdims=True)


def _correlate_pairs(rng: np.random.Generator, atoms: np.ndarray, cosine: float, density: float) -> np.ndarray:
    """Replace every second atom by ``alpha a + r`` (``a`` its partner, ``r`` a fresh unit atom
    with ``a.r = rho < cosine``), normalised; ``alpha`` solves
    ``(alpha + rho) / sqrt(alpha^2 + 2 alpha rho + 1) = cosine``."""
    if not 0.0 < cosine < 1.0:
        raise RetinaCodecError(f"pair_cosine={cosine}; expected a number in (0, 1)")
    atoms = atoms.copy()
    ratio = cosine / np.sqrt(1.0 - cosine**2)
    for first in range(0, len(atoms) - 1, 2):
        for _ in range(MAX_DRAWS):
            fresh = _random_atoms(rng, 1, atoms.shape[1], density)[0]
            rho = float(atoms[first] @ fresh)
            if rho < cosine:
                break
        else:
            raise RetinaCodecError(
                f"pair_cosine={cosine} is below the cosine of almost every pair of random "
                f"atoms of density {density}; expected a larger pair_cosine"
            )
        alpha = ratio * np.sqrt(1.0 - rho**2) - rho
        partner = alpha * atoms[first] + fresh
        atoms[first + 1] = partner / np.linalg.norm(partner)
    return atoms


def atom_recovery(true_atoms: np.ndarray, learned: np.ndarray) -> float:
    """Mean cosine similarity of the best one-to-one match of true to learned atoms.

    Parameters
    ----------
    true_atoms : numpy.ndarray
        (n_true, feature) atoms.
    learned : numpy.ndarray
        (n_learned, feature) atoms, n_learned >= n_true; zero atoms match nothing.

    Returns
    -------
    float
        In [-1, 1]; 1 when every true atom has its own learned atom pointing the same way.

    Notes
    -----
    The matching maximises the summed cosine (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`); order and scale of atoms do not matter.
    """
    return float(matched_cosines(true_atoms, learned).mean())


def matched_cosines(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Cosine of each reference atom with its partner in the best one-to-one match.

    Parameters
    ----------
    reference : numpy.ndarray
        (n_reference, feature) atoms.
    other : numpy.ndarray
        (n_other, feature) atoms; zero atoms match nothing (cosine 0).

    Returns
    -------
    numpy.ndarray
        (n_reference,) cosines in [-1, 1], in the reference's order; with fewer ``other``
        atoms than reference atoms the unmatched reference atoms get 0.

    Notes
    -----
    The matching maximises the summed cosine (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`), as CODEC's ``cosine_hungarian_loss``.
    """
    reference = _unit_rows(reference)
    other = _unit_rows(other)
    cosine = reference @ other.T
    rows, cols = linear_sum_assignment(-cosine)
    matched = np.zeros(len(reference))
    matched[rows] = cosine[rows, cols]
    return matched


def _unit_rows(atoms: np.ndarray) -> np.ndarray:
    atoms = np.asarray(atoms, dtype=np.float64)
    return atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)
