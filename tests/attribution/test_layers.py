"""Several layers in one pass: ``contributions(model, x, [layer, ...])``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec import RetinaCodecError
from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.targets import TopLogit

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


@pytest.fixture
def residual_chain():
    """A float64 chain of residual blocks (each block's output is a cut: every path passes it)."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return x + torch.tanh(self.conv(x))

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.Softplus(), Block(), Block(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4)
    ).double()


@pytest.mark.parametrize("path", ["input", "layer"])
def test_one_pass_equals_the_per_layer_runs(residual_chain, images, path):
    layers = ["1", "2", "3.conv", "3"]
    together = contributions(
        residual_chain,
        images,
        layers,
        target=TopLogit(),
        n_steps=6,
        batch_size=7,
        options=AttributionOptions(path=path, split="sign", progress=False),
    )
    assert list(together) == layers
    for layer in layers:
        alone = contributions(
            residual_chain,
            images,
            layer,
            TopLogit(),
            n_steps=6,
            batch_size=7,
            options=AttributionOptions(path=path, split="sign", progress=False),
        )
        for name in ("contribution", "activation", "target_value", "baseline_value", "completeness_error"):
            np.testing.assert_allclose(together[layer][name].values, alone[name].values, rtol=1e-10, atol=1e-12)
        assert together[layer].attrs["layer"] == layer


def test_completeness_holds_per_layer_on_the_input_path(residual_chain, images):
    """Each block output is a cut, so each layer's contributions sum to f(x) - f(0) on its own;
    a conv inside a residual block is not (the skip bypasses it) and its sum falls short."""
    result = contributions(
        residual_chain,
        images,
        ["1", "2", "3", "3.conv"],
        target=TopLogit(),
        n_steps=16,
        options=AttributionOptions(path="input", progress=False),
    )
    change = np.abs(result["3"]["target_value"] - result["3"]["baseline_value"]).values
    for layer in ("1", "2", "3"):
        assert np.all(np.abs(result[layer]["completeness_error"].values) < 1e-6 * change.max())
    assert np.abs(result["3.conv"]["completeness_error"].values).max() > 1e-3 * change.max()


def test_one_name_gives_a_dataset_and_a_list_a_dict(residual_chain, images):
    one = contributions(residual_chain, images, "2", TopLogit(), n_steps=2, options=QUIET)
    listed = contributions(residual_chain, images, ("2",), TopLogit(), n_steps=2, options=QUIET)
    assert isinstance(one, xr.Dataset) and list(listed) == ["2"]
    xr.testing.assert_identical(listed["2"], one)


def test_a_layer_is_needed_and_each_named_once(residual_chain, images):
    with pytest.raises(RetinaCodecError, match="no layer given"):
        contributions(residual_chain, images, target=TopLogit(), options=QUIET)
    with pytest.raises(RetinaCodecError, match="distinct layers"):
        contributions(residual_chain, images, ["1", "1"], target=TopLogit(), options=QUIET)
    with pytest.raises(RetinaCodecError, match="no target given"):
        contributions(residual_chain, images, "1", options=QUIET)
