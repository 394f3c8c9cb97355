"""Fixtures of the hypotheses tests: the virtual retina, a small random CNN on its cells, a stimulus."""

import pytest
import torch

from retinacodec.models.virtual_retina import VirtualRetina
from retinacodec.stimuli import natural_jitter


@pytest.fixture(scope="module")
def retina():
    return VirtualRetina()


@pytest.fixture(scope="module")
def small_cnn(make_virtual_retina_cnn):
    """A random retina CNN on the virtual retina's cells (short history, 4 + 4 channels)."""
    model = make_virtual_retina_cnn(seed=3)
    with torch.no_grad():  # spread the readout so that silencing channels moves the rates
        model.ganglion[2].weight.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def stimulus():
    return natural_jitter(n_frames=100, seed=21, progress=False)
