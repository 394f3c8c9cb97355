"""The retina CNN: shapes, named layers, noise only in training, the FFT path equals the windows."""

import numpy as np
import pytest
import torch

from retinacodec.errors import RetinaCodecError
from retinacodec.models.retina_cnn import RetinaCNN


def test_default_architecture_shapes_and_named_layers(make_cnn):
    model = make_cnn(5, tiny=False)
    assert [name for name, _ in model.named_children()] == ["bipolar", "amacrine", "ganglion"]
    assert isinstance(model.bipolar[-1], torch.nn.ReLU)
    assert isinstance(model.amacrine[-1], torch.nn.ReLU)
    assert isinstance(model.ganglion[-1], torch.nn.Softplus)
    assert model.bipolar[0].weight.shape == (8, 40, 15, 15)
    assert model.amacrine[0].weight.shape == (8, 8, 11, 11)
    seen = {}
    for name in ("bipolar", "amacrine", "ganglion"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: seen.update({name: o}))
    rates = model.eval()(torch.randn(3, 40, 50, 50))
    assert rates.shape == (3, 5)
    assert seen["bipolar"].shape == (3, 8, 36, 36) and seen["amacrine"].shape == (3, 8, 26, 26)
    assert torch.equal(seen["ganglion"], rates)
    assert (seen["bipolar"] >= 0).all() and (rates > 0).all()


def test_eval_is_deterministic_and_training_noise_is_active(make_cnn):
    torch.manual_seed(0)
    x = torch.randn(4, 6, 16, 16)
    model = make_cnn(3, noise_std=0.5)
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))
    quiet = make_cnn(3, noise_std=0.0).train()
    assert torch.equal(quiet(x), quiet(x))  # without noise, training mode is deterministic too


def test_forward_movie_equals_forward_on_every_window(make_cnn):
    model = make_cnn(4, seed=1)
    movie = torch.randn(2, 23, 16, 16)
    # reference: plain Conv2d forward on windows cut by hand, last channel = current frame
    windows = torch.stack([torch.stack([movie[b, t - 5 : t + 1] for t in range(5, 23)]) for b in range(2)])
    expected = model(windows.reshape(-1, 6, 16, 16)).reshape(2, 18, 4)
    assert torch.allclose(model.forward_movie(movie), expected, atol=1e-5, rtol=1e-5)


def test_config_round_trip_keeps_architecture_and_metadata(make_cnn):
    model = make_cnn(2, noise_std=0.1, cell_type=["on", "off"], cell_position=[[3, 4], [5, 6]], frame_rate_hz=50.0)
    model.name = "tiny"
    rebuilt = RetinaCNN.from_config(model.config())
    assert rebuilt.architecture == model.architecture
    assert rebuilt.cell_type == ["on", "off"] and rebuilt.name == "tiny"
    np.testing.assert_array_equal(rebuilt.cell_position, [[3, 4], [5, 6]])
    assert rebuilt.frame_rate_hz == 50.0 and rebuilt.history == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_cells=0),
        dict(n_cells=2, history=0),
        dict(n_cells=2, size=10, bipolar_kernel=9, amacrine_kernel=5),
        dict(n_cells=2, noise_std=-1.0),
        dict(n_cells=2, cell_type=["on"]),
        dict(n_cells=2, cell_position=[[1, 2]]),
        dict(n_cells=2, stimulus_std=0.0),
    ],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(RetinaCodecError):
        RetinaCNN(**kwargs)


def test_forward_movie_rejects_a_short_movie(make_cnn):
    model = make_cnn(2)
    with pytest.raises(RetinaCodecError, match="expected"):
        model.forward_movie(torch.zeros(1, 5, 16, 16))
