"""Several layers in one pass: ``contributions(model, x, layers=[...])``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec import RetinaCodecError
from retinacodec.attribution.ig import contributions
from retinacodec.targets import TopLogit


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
        target=TopLogit(),
        layers=layers,
        path=path,
        n_steps=6,
        split="sign",
        batch_size=7,
        progress=False,
    )
    assert list(together) == layers
    for layer in layers:
        alone = contributions(
            residual_chain, images, layer, TopLogit(), path=path, n_steps=6, split="sign", batch_size=7, progress=False
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
        target=TopLogit(),
        layers=["1", "2", "3", "3.conv"],
        path="input",
        n_steps=16,
        progress=False,
    )
    change = np.abs(result["3"]["target_value"] - result["3"]["baseline_value"]).values
    for layer in ("1", "2", "3"):
        assert np.all(np.abs(result[layer]["completeness_error"].values) < 1e-6 * change.max())
    assert np.abs(result["3.conv"]["completeness_error"].values).max() > 1e-3 * change.max()


def test_layer_or_layers_not_both(residual_chain, images):
    with pytest.raises(RetinaCodecError, match="not both and not neither"):
        contributions(residual_chain, images, "1", TopLogit(), layers=["2"], progress=False)
    with pytest.raises(RetinaCodecError, match="not both and not neither"):
        contributions(residual_chain, images, target=TopLogit(), progress=False)
    with pytest.raises(RetinaCodecError, match="distinct layers"):
        contributions(residual_chain, images, target=TopLogit(), layers=["1", "1"], progress=False)
    with pytest.raises(RetinaCodecError, match="no target given"):
        contributions(residual_chain, images, "1", progress=False)
