"""The stimulus a mode prefers: the analytic optimum of a planted linear model, bounds, seeds, the
differentiable loadings against the package's own, and the agreement with an IRF."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.optimise import DesignSettings
from retinacodec.hypotheses.preferred import (
    PREFERRED_KIND,
    CellLoadings,
    irf_agreement,
    movie_windows,
    preferred_settings,
    preferred_stimuli,
    stimulus_kernel,
)
from retinacodec.modes.result import Modes
from retinacodec.modes.sae import SAE
from retinacodec.targets import Cell

HISTORY, SIZE, CHANNELS, CELLS = 3, 6, 2, 2


class Planted(nn.Module):
    """A linear retina model: one full-frame filter per channel (a 1 x 1 map), read out linearly."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.hidden = nn.Conv2d(HISTORY, CHANNELS, SIZE)
        self.readout = nn.Sequential(nn.Flatten(), nn.Linear(CHANNELS, CELLS))
        with torch.no_grad():
            self.hidden.weight.copy_(torch.randn(self.hidden.weight.shape, generator=generator))
            self.readout[1].weight.copy_(torch.tensor([[1.0, -0.5], [0.3, 2.0]]))
        self.register_buffer("stimulus_mean", torch.tensor(0.1))
        self.register_buffer("stimulus_std", torch.tensor(0.5))
        self.history, self.size, self.n_cells, self.frame_rate_hz = HISTORY, SIZE, CELLS, 100.0
        self.cell_type, self.name = ["on", "off"], "planted"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden(x))


class LinearEncoder(SAE):
    """A planted SAE whose modes' pre-activations are linear in the split-sign contributions:
    mode 0 weighs channel k's positive part by u_k and its negative magnitude by -u_k, so that its
    pre-activation is sum_k u_k c_k, linear in the stimulus for the planted model."""

    def __init__(self, u: np.ndarray) -> None:
        super().__init__(variable="contribution", progress=False)
        rows = np.stack([np.stack([-u, u], axis=1).ravel(), np.ones(2 * CHANNELS)])  # (mode, feature)
        self.rows = torch.as_tensor(rows, dtype=torch.float32)
        atoms = xr.DataArray(
            np.ones((2, CHANNELS, 2)),
            dims=("mode", "channel", "sign"),
            coords={"mode": [0, 1], "channel": np.arange(CHANNELS), "sign": ["neg", "pos"]},
            attrs={"layer": "hidden", "n_steps": 3},
        )
        self.modes_ = atoms.stack(feature=("channel", "sign"))
        self.dead_modes_ = np.zeros(2, dtype=bool)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.rows.T

    def transform(self, X) -> np.ndarray:
        return np.clip(np.asarray(X, dtype=float) @ self.rows.numpy().T.astype(float), 0, None)


def _plain(**changes) -> DesignSettings:
    """No smoothing or jitter and a far box: the optimum under the RMS budget is analytic."""
    values = dict(n_frames=HISTORY, sigma_px=0, sigma_frames=0, jitter_px=0, steps=300, max_contrast=100.0)
    return DesignSettings(**{**values, **changes})


def _direction(model: Planted, weights: np.ndarray) -> np.ndarray:
    """The (time, y, x) stimulus direction of sum_k weights_k a_k (a_k the channels' outputs)."""
    filters = model.hidden.weight.detach().numpy()  # (channel, history, y, x): history = time order
    return np.tensordot(weights, filters, axes=1) / float(model.stimulus_std)


def test_planted_linear_loading_has_the_analytic_preferred_stimulus():
    """Mode 0's pre-activation is v . x with v = sum_k u_k w_ik F_k / std, so under rms(x - mean) <= c
    (box far away) the optimum is mean + c sqrt(n) v / ||v||; the cell's own MEI is the same with
    u_k = 1."""
    model, u, cell, budget = Planted(), np.array([0.7, -1.2]), 1, 0.2
    modes = Modes.from_sae(LinearEncoder(u))
    found = preferred_stimuli(model, modes, cell, [0], settings=_plain(rms_contrast=budget), progress=False)
    w = model.readout[1].weight.detach().numpy()[cell]
    for name, weights in (("preferred_stimulus", u * w), ("most_exciting_input", w)):
        v = _direction(model, weights)
        expected = 0.1 + budget * np.sqrt(v.size) * v / np.linalg.norm(v)
        values = found[name].values.reshape(-1, *v.shape)[0]
        assert np.corrcoef(values.ravel(), expected.ravel())[0, 1] > 0.999
        np.testing.assert_allclose(values, expected, atol=5e-3)
    assert found.attrs["kind"] == PREFERRED_KIND and found["cell_type"] == "off"
    assert found["objective_trace"].values[0, -1] > found["objective_trace"].values[0, 0]


def test_bounds_hold_and_a_seed_gives_the_same_stimuli():
    model, modes = Planted(), Modes.from_sae(LinearEncoder(np.array([1.0, 1.0])))
    settings = DesignSettings(n_frames=4, max_contrast=0.3, rms_contrast=0.1, steps=25, learning_rate=0.5, seed=2)
    first = preferred_stimuli(model, modes, 0, [0, 1], settings=settings, progress=False)
    again = preferred_stimuli(model, modes, 0, [0, 1], settings=settings, progress=False)
    other = preferred_stimuli(
        model, modes, 0, [0, 1], settings=DesignSettings(**{**vars(settings), "seed": 3}), progress=False
    )
    for name in ("preferred_stimulus", "most_exciting_input"):
        deviation = first[name].values - 0.1
        assert np.abs(deviation).max() < 0.3
        assert np.sqrt((deviation**2).mean(axis=(-3, -2, -1))).max() <= 0.1 + 1e-6
        np.testing.assert_array_equal(first[name].values, again[name].values)
        assert not np.array_equal(first[name].values, other[name].values)
    assert first.sizes["time"] == 4 and list(first["mode"].values) == [0, 1]


def test_refuses_bad_cells_modes_and_short_movies():
    model, modes = Planted(), Modes.from_sae(LinearEncoder(np.array([1.0, 1.0])))
    with pytest.raises(RetinaCodecError, match="cell 5 is out of range"):
        preferred_stimuli(model, modes, 5, [0], progress=False)
    with pytest.raises(RetinaCodecError, match="distinct mode positions"):
        preferred_stimuli(model, modes, 0, [2], progress=False)
    with pytest.raises(RetinaCodecError, match="expected at least the model's history"):
        preferred_stimuli(model, modes, 0, [0], settings=DesignSettings(n_frames=2), progress=False)
    with pytest.raises(RetinaCodecError, match="without their SAE"):
        preferred_stimuli(model, Modes.from_dictionary(np.ones((2, CHANNELS))), 0, [0], progress=False)
    with pytest.raises(RetinaCodecError, match="not a retina model"):
        preferred_stimuli(nn.Linear(2, 2), modes, 0, [0], progress=False)


@pytest.fixture(scope="module")
def fitted(small_cnn, stimulus):
    """A small SAE fitted on the small CNN's split-sign amacrine contributions."""
    found = contributions(
        small_cnn,
        stimulus.isel(time=slice(0, 30)),
        "amacrine",
        [Cell(i) for i in range(small_cnn.n_cells)],
        n_steps=3,
        options=AttributionOptions(split="sign", progress=False),
    )
    sae = SAE(n_modes=6, epochs=3, batch_size=32, seed=0, device="cpu", progress=False).fit(found)
    return found, Modes.from_sae(sae)


def test_differentiable_loadings_are_the_packages_loadings(small_cnn, stimulus, fitted):
    found, modes = fitted
    cell = 4
    windows = movie_windows(small_cnn, torch.as_tensor(stimulus.values[:30]))
    loadings = CellLoadings.of(small_cnn, modes, "amacrine", cell)
    features = loadings.features(windows).detach().numpy()
    expected = np.abs(found["contribution"].sel(cell=cell).values).reshape(len(windows), -1)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    codes = modes.sae.pre_activations(torch.as_tensor(expected, dtype=torch.float32))
    np.testing.assert_allclose(loadings.pre_activations(windows).detach().numpy(), codes.detach().numpy(), atol=1e-4)


def test_preferred_stimuli_of_a_fitted_sae_and_their_irf_agreement(small_cnn, fitted):
    _, modes = fitted
    settings = DesignSettings(**{**vars(preferred_settings(small_cnn.history)), "steps": 3})
    found = preferred_stimuli(small_cnn, modes, 2, [0, 3], settings=settings, progress=False)
    assert found["preferred_stimulus"].shape == (2, small_cnn.history, 50, 50)
    assert (found["preferred_loading"] >= 0).all() and np.isfinite(found["mei_rate"])
    assert all(p.grad is None for p in small_cnn.parameters()) and all(p.requires_grad for p in small_cnn.parameters())
    # an IRF whose mode 0 is mode 0's own kernel, mode 3 the negative of its kernel, the whole the MEI's
    centre = found.attrs["contrast_centre"]
    kernels = [stimulus_kernel(found["preferred_stimulus"].sel(mode=m), small_cnn.history, centre) for m in (0, 3)]
    whole = stimulus_kernel(found["most_exciting_input"], small_cnn.history, centre)
    irf = xr.Dataset(
        {
            "irf": (("time", "cell", "lag", "y", "x"), whole[None, None]),
            "mode_irf": (("time", "cell", "mode", "lag", "y", "x"), np.stack([kernels[0], -kernels[1]])[None, None]),
        },
        coords={"cell": [2], "mode": [0, 3]},
    )
    agreement = irf_agreement(found, irf)
    np.testing.assert_allclose(agreement["irf_correlation"].values, [1.0, -1.0], atol=1e-6)
    assert float(agreement["mei_irf_correlation"]) == pytest.approx(1.0)
    with pytest.raises(RetinaCodecError, match="expected cell 2 among them"):
        irf_agreement(found, irf.assign_coords(cell=[7]))
