"""The LN baseline: it recovers a known filter and nonlinearity, and predict, checkpoints and IRFs take it."""

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.attribution.options import AttributionOptions
from retinacodec.io.checkpoints import save_checkpoint
from retinacodec.models.ln import (
    MIN_STA_SCORE,
    LNModel,
    receptive_field_centres,
    temporal_basis,
)
from retinacodec.models.registry import load, predict
from retinacodec.models.training import train_ln
from retinacodec.stimuli.base import make_stimulus

QUIET = AttributionOptions(progress=False)
"""No progress bar."""

HISTORY, SIZE = 8, 12


@pytest.fixture(scope="module")
def ln_cell():
    """White noise, one LN cell at (5, 7): Gaussian centre x biphasic temporal filter, softplus, Poisson spikes."""
    rng = np.random.default_rng(0)
    frames = rng.choice([-1.0, 1.0], size=(20000, SIZE, SIZE)).astype(np.float32)
    ys, xs = np.mgrid[:SIZE, :SIZE]
    spatial = np.exp(-((ys - 5) ** 2 + (xs - 7) ** 2) / 2.0)
    temporal = np.array([0.0, 0.0, -0.2, -0.4, 0.1, 0.6, 1.0, 0.5])  # channel l = HISTORY-1-l frames back
    kernel = temporal[:, None, None] * spatial[None]
    windows = np.lib.stride_tricks.sliding_window_view(frames, HISTORY, axis=0)  # (T', y, x, lag)
    drive = np.einsum("tyxl,lyx->t", windows, kernel)
    rate = 20.0 * np.log1p(np.exp(drive / drive.std() * 1.5 - 1.0))
    counts = np.r_[np.zeros(HISTORY - 1), rng.poisson(rate / 100.0)]
    spikes = xr.DataArray((counts * 100.0)[:, None].astype(np.float32), dims=("time", "cell"))
    return make_stimulus(frames, kind="white_noise"), spikes, kernel, rate


def test_ridge_recovers_the_filter_and_a_rising_nonlinearity(ln_cell):
    stimulus, spikes, kernel, _ = ln_cell
    model = train_ln(stimulus, spikes, HISTORY)
    np.testing.assert_array_equal(model.cell_position, [[5, 7]])  # the STA peak, found without being told
    fitted = model.filters[0].numpy()
    assert np.corrcoef(fitted.ravel(), kernel.ravel())[0, 1] > 0.95
    values = model.values[0].numpy()
    assert values[-1] > 3 * max(values[0], 0.5) and np.all(np.diff(values) > -2.0)


def test_predict_matches_the_true_rate_and_windows_forward(ln_cell):
    stimulus, spikes, _, rate = ln_cell
    model = train_ln(stimulus, spikes, HISTORY)
    fresh = stimulus.isel(time=slice(0, 3000))
    predicted = predict(model, fresh)
    assert np.corrcoef(predicted.values[:, 0], rate[: fresh.sizes["time"] - HISTORY + 1])[0, 1] > 0.9
    frames = (torch.as_tensor(fresh.values[:40]) - model.stimulus_mean) / model.stimulus_std
    windows = frames.unfold(0, HISTORY, 1).permute(0, 3, 1, 2)
    torch.testing.assert_close(model(windows), torch.as_tensor(predicted.values[:33]), rtol=1e-4, atol=1e-4)


def test_checkpoint_round_trip_through_the_registry(ln_cell, tmp_path):
    stimulus, spikes, _, _ = ln_cell
    model = train_ln(stimulus, spikes, HISTORY)
    save_checkpoint({"config": model.config(), "state_dict": model.state_dict()}, tmp_path / "ln" / "model.pt")
    loaded = load(tmp_path / "ln")
    assert isinstance(loaded, LNModel) and loaded.name == "ln"
    fresh = stimulus.isel(time=slice(0, 500))
    np.testing.assert_array_equal(predict(loaded, fresh).values, predict(model, fresh).values)


def test_irf_of_the_ln_model_is_its_filter_times_the_nonlinearity_slope(ln_cell):
    from retinacodec.receptive_fields.instantaneous import irf

    stimulus, spikes, _, _ = ln_cell
    model = train_ln(stimulus, spikes, HISTORY)
    fresh = stimulus.isel(time=slice(0, 60))
    result = irf(model, fresh, cells=0, times=[float(fresh["time"][40])], options=QUIET)
    values = result.squeeze().transpose("lag", "y", "x").sortby("lag", ascending=False).values.ravel()
    filters = model.filters[0].numpy().ravel()  # channel 0 = the oldest lag
    assert np.corrcoef(values, filters)[0, 1] > 0.999


def test_temporal_basis_covers_every_lag():
    basis = temporal_basis(40, 10)
    assert basis.shape == (10, 40)
    np.testing.assert_allclose(basis.sum(0), 1.0)
    np.testing.assert_array_equal(temporal_basis(5, 10), np.eye(5))


@pytest.fixture(scope="module")
def mixed_cells():
    """Binary white noise (16 px), an ON cell at (4, 11) near a corner, an ON-OFF cell at (9, 5) that
    rectifies both polarities of the same filtered input, and a cell firing at a constant rate."""
    rng = np.random.default_rng(1)
    frames = rng.choice([-1.0, 1.0], size=(30000, 16, 16)).astype(np.float32)
    ys, xs = np.mgrid[:16, :16]
    temporal = np.array([0.0, 0.0, -0.2, -0.4, 0.1, 0.6, 1.0, 0.5])
    windows = np.lib.stride_tricks.sliding_window_view(frames, HISTORY, axis=0)
    drives = []
    for y, x in ((4, 11), (9, 5)):
        spatial = np.exp(-((ys - y) ** 2 + (xs - x) ** 2) / 4.0)
        drive = np.einsum("tyxl,lyx->t", windows, temporal[:, None, None] * spatial[None])
        drives.append(drive / drive.std())
    rates = np.stack(
        [8.0 * np.log1p(np.exp(1.5 * drives[0] - 1.0)), 6.0 * np.abs(drives[1]) ** 1.5, np.full(drives[0].size, 5.0)], 1
    )
    counts = rng.poisson(rates / 100.0).astype(np.float32)
    return frames, counts


def test_cells_are_found_with_and_without_a_linear_receptive_field(mixed_cells):
    frames, counts = mixed_cells
    centres, found = receptive_field_centres([frames], [counts], HISTORY)
    np.testing.assert_array_equal(found, [True, True, False])  # the constant cell is nowhere
    np.testing.assert_allclose(centres[:2], [[4, 11], [9, 5]], atol=1)
    # the ON-OFF cell has no linear receptive field: its STA alone does not find it
    sta = np.stack([np.tensordot(counts[:, 1], frames[lag : lag + counts.shape[0]], 1) for lag in range(HISTORY)])
    energy = (sta**2).sum(0)
    spread = 1.4826 * np.median(np.abs(energy - np.median(energy)))  # the robust score of ln._peaks
    assert (energy.max() - np.median(energy)) / spread < MIN_STA_SCORE
