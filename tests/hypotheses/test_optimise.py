"""The stimulus optimiser against planted linear objectives whose optimum is known analytically."""

import numpy as np
import pytest
import torch

from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.optimise import DesignSettings, bounded, optimise_stimulus, smooth

SIZE = 6
FRAMES = 5


def _planted(seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).normal(size=(FRAMES, SIZE, SIZE)), dtype=torch.float32)


def _plain(**changes) -> DesignSettings:
    """No smoothing and no jitter: the free tensor is the movie, so the optimum is analytic."""
    values = dict(n_frames=FRAMES, sigma_px=0, sigma_frames=0, jitter_px=0, steps=400, learning_rate=0.05)
    return DesignSettings(**{**values, **changes})


def test_norm_budget_optimum_is_the_scaled_weights():
    """max w.x under rms(x) <= c (box far away): x* = c sqrt(n) w / ||w||."""
    w = _planted()
    budget = 0.2
    settings = _plain(rms_contrast=budget, max_contrast=100.0)
    stimulus, trace = optimise_stimulus(lambda x: (w * x).sum(), SIZE, settings)
    expected = budget * np.sqrt(w.numel()) * (w / w.norm()).numpy()
    assert np.corrcoef(stimulus.values.ravel(), expected.ravel())[0, 1] > 0.999
    np.testing.assert_allclose(stimulus.values, expected, atol=0.01)
    optimum = float((w * torch.as_tensor(expected)).sum())
    assert stimulus.attrs["objective"] == pytest.approx(optimum, rel=1e-3)
    assert trace[-1] > trace[0]


def test_box_optimum_is_the_signs_of_the_weights():
    """max w.x under |x_i| <= b (no norm budget): x* = b sign(w)."""
    w = _planted(1)
    settings = _plain(rms_contrast=None, max_contrast=0.4, learning_rate=0.5)
    stimulus, _ = optimise_stimulus(lambda x: (w * x).sum(), SIZE, settings)
    np.testing.assert_allclose(stimulus.values, 0.4 * np.sign(w.numpy()), atol=0.01)


def test_bounds_hold_when_the_objective_pushes_past_them():
    settings = DesignSettings(n_frames=FRAMES, max_contrast=0.3, rms_contrast=0.1, steps=30, learning_rate=0.5)
    stimulus, _ = optimise_stimulus(lambda x: x.pow(4).sum(), SIZE, settings, mean=0.05)
    deviation = stimulus.values - 0.05
    assert np.abs(deviation).max() < 0.3
    assert np.sqrt((deviation**2).mean()) <= 0.1 + 1e-6
    assert np.sqrt((deviation**2).mean()) > 0.09  # the budget is used


def test_bounded_keeps_every_free_tensor_in_bounds():
    free = 10 * torch.randn(FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    movie = bounded(free, DesignSettings(max_contrast=0.4, rms_contrast=0.2))
    assert movie.abs().max() < 0.4
    assert movie.pow(2).mean().sqrt() <= 0.2 + 1e-6


def test_smoothing_is_a_normalised_gaussian():
    impulse = torch.zeros(15, 15, 15)
    impulse[7, 7, 7] = 1.0
    spread = smooth(impulse, sigma_frames=1.0, sigma_px=1.5)
    assert float(spread.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(spread[7, 7, 7]) < 0.1
    profile = spread[7, 7].numpy()
    assert np.allclose(profile, profile[::-1], atol=1e-7)  # symmetric
    assert torch.equal(smooth(impulse, 0, 0), impulse)


def test_same_seed_same_stimulus_other_seed_other_stimulus():
    w = _planted(2)

    def objective(x):
        return (w * x).sum() - x.pow(2).sum()

    settings = DesignSettings(n_frames=FRAMES, steps=10, seed=4)
    first, trace = optimise_stimulus(objective, SIZE, settings)
    again, trace_again = optimise_stimulus(objective, SIZE, settings)
    other, _ = optimise_stimulus(objective, SIZE, DesignSettings(n_frames=FRAMES, steps=10, seed=5))
    assert np.array_equal(first.values, again.values) and np.array_equal(trace, trace_again)
    assert not np.array_equal(first.values, other.values)


def test_stimulus_carries_its_settings():
    settings = DesignSettings(n_frames=3, steps=2)
    stimulus, trace = optimise_stimulus(lambda x: x.sum(), SIZE, settings, frame_rate_hz=50.0)
    assert stimulus.dims == ("time", "y", "x") and stimulus.shape == (3, SIZE, SIZE)
    assert stimulus.attrs["frame_rate_hz"] == 50.0 and stimulus.attrs["design_steps"] == 2
    assert stimulus.attrs["design_rms_contrast"] == 0.2 and trace.shape == (2,)


@pytest.mark.parametrize(
    "changes",
    [{"n_frames": 0}, {"max_contrast": 0}, {"rms_contrast": -1.0}, {"sigma_px": -1}, {"steps": 1.5}, {"seed": -1}],
)
def test_bad_settings_are_refused(changes):
    with pytest.raises(RetinaCodecError):
        DesignSettings(**changes)
