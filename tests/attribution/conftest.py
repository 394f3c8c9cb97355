"""Small networks for the contributions tests."""

import pytest
import torch
from torch import nn


@pytest.fixture
def smooth_convnet():
    """A float64 conv net with smooth nonlinearities (so quadrature errors follow their theory).

    Layers: "0" Conv2d(2->3) (N, 3, 6, 6), "1" Tanh, "2" Conv2d(3->4) (N, 4, 4, 4), "3" Softplus,
    "4" Flatten, "5" Linear(64->3).
    """
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.Tanh(),
        nn.Conv2d(3, 4, 3),
        nn.Softplus(),
        nn.Flatten(),
        nn.Linear(64, 3),
    ).double()


@pytest.fixture
def images():
    """Four float64 inputs (N, 2, 8, 8) for ``smooth_convnet``."""
    return torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.fixture
def small_retina(make_cnn):
    """A builder of the float64 tiny retina CNN (``tiny_cnn``'s shape, cells and normalisation,
    seed 0, eval mode): ``small_retina(smooth=False)``; ``smooth`` swaps the stages' ReLUs for
    Softplus (kinks stall every quadrature's convergence)."""

    def build(smooth: bool = False) -> nn.Module:
        model = make_cnn(cell_type=["ON", "OFF", "ON"], stimulus_mean=0.1, stimulus_std=0.5)
        if smooth:
            model.bipolar[3], model.amacrine[3] = nn.Softplus(), nn.Softplus()
        return model.double().eval()

    return build
