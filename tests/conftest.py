"""Fixtures shared by every test: one torch thread; a tiny retina CNN on the virtual retina."""

import json

import numpy as np
import pytest
import torch

from retinacodec.io.checkpoints import save_checkpoint
from retinacodec.models.retina_cnn import RetinaCNN
from retinacodec.models.virtual_retina import VirtualRetina


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op torch thread for the whole suite: the test networks and batches are small, and
    on the 2 shared cores of the CI machine OpenMP threads spin-waiting on a busy core cost far
    more than a second thread gains (5-30x slower runs were seen with 2 threads under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random retina CNN (8-frame history, 4 + 4 channels) on the virtual retina's cells, saved as
    a model folder with its virtual retina, as the shipped default is."""
    retina = VirtualRetina()
    cells = retina.cells
    torch.manual_seed(0)
    model = RetinaCNN(
        cells.sizes["cell"],
        history=8,
        bipolar_channels=4,
        amacrine_channels=4,
        cell_type=list(cells["cell_type"].values),
        cell_position=np.stack([cells["y"].values, cells["x"].values], axis=1),
    )
    model.name = "tiny"
    folder = tmp_path_factory.mktemp("tiny_model")
    save_checkpoint({"config": model.config(), "state_dict": model.state_dict()}, folder / "model.pt")
    (folder / "virtual_retina.json").write_text(json.dumps(retina.to_dict()))
    return folder
