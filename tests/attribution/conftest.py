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
