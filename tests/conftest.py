"""Fixtures shared by every test: one torch thread; seeded retina CNNs (a factory for any shape,
the common tiny one, one on the virtual retina's cells) and that one saved as a model folder."""

import json
import urllib.error

import numpy as np
import pytest
import torch

from retinacodec.io.checkpoints import save_checkpoint
from retinacodec.models.retina_cnn import RetinaCNN
from retinacodec.models.virtual_retina import VirtualRetina

TINY_CNN = dict(history=6, size=16, bipolar_channels=4, bipolar_kernel=5, amacrine_channels=5, amacrine_kernel=5)
"""The common small shape: 6 frames on 16 x 16 px, 4 bipolar (5 px) and 5 amacrine (5 px) channels."""


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op torch thread for the whole suite: the test networks and batches are small, and
    on the 2 shared cores of the CI machine OpenMP threads spin-waiting on a busy core cost far
    more than a second thread gains (5-30x slower runs were seen with 2 threads under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_cnn():
    """A factory of seeded random retina CNNs in eval mode, ``make_cnn(n_cells=3, *, seed=0,
    warm=0, tiny=True, **kwargs)``: ``torch.manual_seed(seed)``, then ``RetinaCNN(n_cells,
    **kwargs)`` on the ``TINY_CNN`` shape (``tiny=False``: on RetinaCNN's default shape; kwargs
    override either); ``warm > 0`` first runs ``warm`` standard normal windows through it in
    training mode, moving the batch-norm running statistics off their defaults."""

    def build(n_cells: int = 3, *, seed: int = 0, warm: int = 0, tiny: bool = True, **kwargs) -> RetinaCNN:
        torch.manual_seed(seed)
        model = RetinaCNN(n_cells, **({**TINY_CNN, **kwargs} if tiny else kwargs))
        if warm:
            model.train()
            model(torch.randn(warm, model.history, model.size, model.size))
        return model.eval()

    return build


@pytest.fixture
def tiny_cnn(make_cnn):
    """The common tiny retina CNN (``TINY_CNN``, seed 0, eval mode): 3 cells typed ON, OFF, ON,
    inputs normalised as (contrast - 0.1) / 0.5."""
    return make_cnn(cell_type=["ON", "OFF", "ON"], stimulus_mean=0.1, stimulus_std=0.5)


@pytest.fixture(scope="session")
def make_virtual_retina_cnn(make_cnn):
    """A factory of seeded random retina CNNs on the virtual retina's cells (their types and
    positions; 8-frame history, 4 + 4 channels, the default 50 px input and kernels), in eval
    mode: ``make_virtual_retina_cnn(seed=0)``."""
    cells = VirtualRetina().cells

    def build(seed: int = 0) -> RetinaCNN:
        return make_cnn(
            cells.sizes["cell"],
            seed=seed,
            tiny=False,
            history=8,
            bipolar_channels=4,
            amacrine_channels=4,
            cell_type=list(cells["cell_type"].values),
            cell_position=np.stack([cells["y"].values, cells["x"].values], axis=1),
        )

    return build


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, make_virtual_retina_cnn):
    """A random retina CNN on the virtual retina's cells (``make_virtual_retina_cnn``, seed 0),
    saved as a model folder with its virtual retina, as the shipped default is."""
    model = make_virtual_retina_cnn()
    model.name = "tiny"
    folder = tmp_path_factory.mktemp("tiny_model")
    save_checkpoint({"config": model.config(), "state_dict": model.state_dict()}, folder / "model.pt")
    (folder / "virtual_retina.json").write_text(json.dumps(VirtualRetina().to_dict()))
    return folder


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """A torch home whose hub cache holds random state dicts under torchvision's published file
    names (``checkpoints/<name>`` of ``weights.url``); returns (home, seed_file)."""
    import torchvision

    from retinacodec.models import published

    home = tmp_path_factory.mktemp("torch_home")
    states = {}

    def seed(model: str, weight: str) -> dict:
        entry = torchvision.models.get_weight(weight)
        if weight not in states:
            torch.manual_seed(len(states))
            states[weight] = torchvision.models.get_model(model, weights=None).state_dict()
            path = home / "hub" / "checkpoints" / published.cached_file(entry).name
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(states[weight], path)
        return states[weight]

    return home, seed


@pytest.fixture
def cache(hub, monkeypatch):
    """The seeded cache as $TORCH_HOME; any download attempt fails the test."""
    home, seed = hub
    monkeypatch.setenv("TORCH_HOME", str(home))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"tests never reach the network ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return seed
