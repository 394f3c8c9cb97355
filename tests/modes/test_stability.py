"""Stability of modes across seeds: hand-made dictionaries, and planted data against noise."""

from types import SimpleNamespace

import numpy as np
import pytest

from retinacodec import RetinaCodecError
from retinacodec.modes import fit_stability, stability
from retinacodec.modes.planted import planted_problem


def _fit(modes, dead=None):
    """Something shaped like a fitted SAE: modes_ and dead_modes_."""
    modes = np.asarray(modes, dtype=float)
    return SimpleNamespace(modes_=modes, dead_modes_=np.zeros(len(modes), bool) if dead is None else np.asarray(dead))


def test_fit_stability_on_hand_made_dictionaries():
    rng = np.random.default_rng(5)
    atoms = rng.random((4, 6))
    # the same modes, reordered and rescaled, recur perfectly
    np.testing.assert_allclose(fit_stability(_fit(atoms), [_fit(3.0 * atoms[::-1])]), 1.0)
    # a dead mode takes part in no match: NaN for it, and the others still find their partners
    scores = fit_stability(_fit(atoms, dead=[False, True, False, False]), [_fit(atoms[[3, 2, 0, 1]])])
    assert np.isnan(scores[1]) and np.allclose(np.delete(scores, 1), 1.0)
    # orthogonal modes score 0, and scores average over the other fits
    eye = np.eye(4, 6)
    other = np.eye(4, 6)[:, ::-1]  # features 5, 4, 3, 2: shares features 2 and 3 with eye
    expected = np.array([0.0, 0.0, 1.0, 1.0]) / 2 + 0.5  # matched with eye itself (1) and other (0 or 1)
    np.testing.assert_allclose(fit_stability(_fit(eye), [_fit(eye), _fit(other)]), expected)
    with pytest.raises(RetinaCodecError, match="no other fits"):
        fit_stability(_fit(eye), [])


@pytest.mark.slow
def test_planted_modes_are_stable_and_noise_modes_are_not():
    x, _ = planted_problem(n_samples=600, n_features=10, n_atoms=5, n_active=1, noise=0.0, seed=11)
    settings = dict(n_modes=10, epochs=40, batch_size=32, progress=False, device="cpu")
    planted = stability(x, seeds=(0, 1, 2), **settings)
    noise = stability(np.random.default_rng(11).random(x.shape).astype(np.float32), seeds=(0, 1, 2), **settings)
    assert planted["stability"].dims == ("seed", "mode") and planted.sizes["seed"] == 3
    assert planted["pairwise"].dims == ("seed", "other_seed")
    assert np.isnan(np.diag(planted["pairwise"].values)).all()
    live = planted["stability"].values[~np.isnan(planted["stability"].values)]
    assert float(planted["overall_stability"]) == pytest.approx(live.mean())
    # every fit of the 5 planted atoms finds them: the best 5 modes of each fit recur almost exactly
    best = np.sort(np.nan_to_num(planted["stability"].values), axis=1)[:, -5:]
    assert best.min() > 0.95
    assert float(noise["overall_stability"]) < float(planted["overall_stability"]) - 0.05


def test_stability_checks_its_seeds():
    x = np.ones((100, 3), np.float32)
    with pytest.raises(RetinaCodecError, match="two distinct seeds"):
        stability(x, seeds=(1, 1))
    with pytest.raises(RetinaCodecError, match="seeds="):
        stability(x, seeds=(0, 1), seed=3)
