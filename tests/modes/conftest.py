"""Synthetic contributions Datasets and fast SAE settings for the modes tests."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr


def make_contributions(n_time=64, n_cells=4, n_channels=6, split=True, seed=0):
    """A Dataset shaped like ``retinacodec.contributions`` output: sample = (time, cell),
    ``cell_type`` per sample, contribution/activation (sample, channel[, sign]) with negative
    contributions stored as values <= 0."""
    rng = np.random.default_rng(seed)
    n = n_time * n_cells
    index = pd.MultiIndex.from_product([np.arange(n_time) * 0.01, np.arange(n_cells)], names=["time", "cell"])
    cell_type = np.tile(np.array(["ON", "OFF"])[np.arange(n_cells) % 2], n_time)
    pos = rng.random((n, n_channels)) * (rng.random((n, n_channels)) < 0.5)
    neg = -rng.random((n, n_channels)) * (rng.random((n, n_channels)) < 0.5)
    activation = np.abs(rng.standard_normal((n, n_channels)))
    if split:
        dims = ("sample", "channel", "sign")
        contribution = np.stack([neg, pos], axis=-1)
        activation = np.stack([np.zeros_like(activation), activation], axis=-1)
    else:
        dims = ("sample", "channel")
        contribution = pos + neg
    ds = xr.Dataset(
        {
            "contribution": (dims, contribution),
            "activation": (dims, activation),
            "target_value": ("sample", contribution.reshape(n, -1).sum(1)),
        },
        coords=xr.Coordinates.from_pandas_multiindex(index, "sample"),
    ).assign_coords(channel=np.arange(n_channels), cell_type=("sample", cell_type))
    if split:
        ds = ds.assign_coords(sign=["neg", "pos"])
    ds.attrs = {"model": "toy", "layer": "conv1", "target": "cell 0", "n_steps": 10}
    return ds


@pytest.fixture
def contributions():
    return make_contributions


FAST = dict(epochs=15, batch_size=32, progress=False, device="cpu")
"""SAE settings that keep a fit on a few hundred samples well under a second."""


@pytest.fixture
def fast():
    return dict(FAST)
