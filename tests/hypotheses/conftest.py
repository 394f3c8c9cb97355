"""Fixtures of the hypotheses tests: the virtual retina, a small random CNN on its cells, a stimulus."""

import numpy as np
import pytest
import torch

from retinacodec.models.retina_cnn import RetinaCNN
from retinacodec.models.virtual_retina import VirtualRetina
from retinacodec.stimuli import natural_jitter


@pytest.fixture(scope="module")
def retina():
    return VirtualRetina()


@pytest.fixture(scope="module")
def small_cnn(retina):
    """A random retina CNN on the virtual retina's cells (short history, 4 + 4 channels)."""
    torch.manual_seed(3)
    cells = retina.cells
    model = RetinaCNN(
        cells.sizes["cell"],
        history=8,
        bipolar_channels=4,
        amacrine_channels=4,
        cell_type=list(cells["cell_type"].values),
        cell_position=np.stack([cells["y"].values, cells["x"].values], axis=1),
    ).eval()
    with torch.no_grad():  # spread the readout so that silencing channels moves the rates
        model.ganglion[2].weight.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def stimulus():
    return natural_jitter(n_frames=100, seed=21, progress=False)
