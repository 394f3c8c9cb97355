"""Planted sparse dictionary problems with a known answer, and how well a dictionary recovers
it: the ground truth for tests and for ``python -m retinacodec.bench sae``."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def planted_problem(n_samples: int = 2000, n_features: int = 24, n_atoms: int = 12,
                    n_active: int = 3, noise: float = 0.01, density: float = 0.3,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative data made of a known sparse non-negative dictionary.

    Parameters
    ----------
    n_samples, n_features, n_atoms : int
        Data size and number of true atoms.
    n_active : int
        Atoms active in each sample, drawn uniformly without replacement.
    noise : float
        Standard deviation of the added Gaussian noise (data are clipped at 0 afterwards).
    density : float
        Expected fraction of non-zero entries of an atom (each atom also gets one guaranteed
        entry, so none is empty).
    seed : int
        Seed of the generator.

    Returns
    -------
    x : numpy.ndarray
        float32 (n_samples, n_features) data: each row the sum of ``n_active`` atoms with
        amplitudes uniform in [0.5, 1.5], plus noise.
    atoms : numpy.ndarray
        (n_atoms, n_features) true atoms, non-negative with unit norm.
    """
    rng = np.random.default_rng(seed)
    atoms = rng.random((n_atoms, n_features)) * (rng.random((n_atoms, n_features)) < density)
    atoms[np.arange(n_atoms), rng.integers(0, n_features, n_atoms)] += 1.0
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    active = np.argsort(rng.random((n_samples, n_atoms)), axis=1)[:, :n_active]
    codes = np.zeros((n_samples, n_atoms))
    np.put_along_axis(codes, active, rng.uniform(0.5, 1.5, (n_samples, n_active)), axis=1)
    x = codes @ atoms + noise * rng.standard_normal((n_samples, n_features))
    return np.clip(x, 0.0, None).astype(np.float32), atoms


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
    true_atoms = np.asarray(true_atoms, dtype=np.float64)
    learned = np.asarray(learned, dtype=np.float64)
    true_atoms = true_atoms / np.linalg.norm(true_atoms, axis=1, keepdims=True)
    learned = learned / np.maximum(np.linalg.norm(learned, axis=1, keepdims=True), 1e-12)
    cosine = true_atoms @ learned.T
    rows, cols = linear_sum_assignment(-cosine)
    return float(cosine[rows, cols].mean())
