"""Context managers of the ground floor's device module."""

import pytest
import torch
from torch import nn

from retinacodec.device import frozen


def test_frozen_keeps_gradients_off_the_parameters_and_restores_the_flags():
    module = nn.Linear(3, 1)
    module.bias.requires_grad_(False)
    x = torch.ones(2, 3, requires_grad=True)
    with frozen(module):
        output = module(x).sum()
        assert not any(p.requires_grad for p in module.parameters())
    output.backward()
    assert x.grad is not None and module.weight.grad is None
    assert module.weight.requires_grad and not module.bias.requires_grad
    with pytest.raises(RuntimeError), frozen(module):
        raise RuntimeError("inside")
    assert module.weight.requires_grad
