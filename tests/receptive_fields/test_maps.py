"""Contribution maps against direct autograd, Captum's Integrated Gradients and a linear model's
analytic maps."""

import numpy as np
import pytest
import torch
import torchvision
import xarray as xr
from captum.attr import IntegratedGradients
from torch import nn

from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.modes.selection import channel_weights
from retinacodec.receptive_fields.maps import contribution_maps
from retinacodec.receptive_fields.selection import ModeSelection

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


def image_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 6 * 6, 3)
    ).eval()


def images(n=4, size=10, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def gradient_times_input(model, x):
    x = x.clone().requires_grad_(True)
    output = model(x)
    top = output.argmax(dim=1)
    (gradient,) = torch.autograd.grad(output.gather(1, top[:, None]).sum(), x)
    return (gradient * x).sum(dim=1).detach().numpy(), top


def test_single_channel_modes_covering_all_channels_sum_to_gradient_times_input():
    model, x = image_cnn(), images()
    maps = contribution_maps(model, x, ModeSelection(np.eye(4), layer="1"), target="top", options=QUIET)
    assert maps.dims == ("image", "mode", "y", "x") and maps.shape == (4, 4, 10, 10)
    expected, _ = gradient_times_input(model, x)
    np.testing.assert_allclose(maps.sum("mode"), expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    assert maps.attrs["layer"] == "1" and maps.attrs["method"] == "gradient"


def test_ig_maps_of_disjoint_modes_sum_to_captum_integrated_gradients():
    model, x = image_cnn(seed=1), images(n=3, seed=1)
    _, top = gradient_times_input(model, x)
    maps = contribution_maps(
        model,
        x,
        ModeSelection(np.eye(4), layer="1"),
        target="top",
        method="ig",
        n_steps=32,
        baseline="zero",
        options=AttributionOptions(quadrature="gausslegendre", progress=False),
    )
    reference = (
        IntegratedGradients(model)
        .attribute(x, baselines=torch.zeros_like(x), target=top, n_steps=32, method="gausslegendre")
        .sum(dim=1)
        .detach()
        .numpy()
    )
    np.testing.assert_allclose(maps.sum("mode"), reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_linear_model_maps_equal_the_analytic_value():
    torch.manual_seed(2)
    height = 5
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.Flatten(), nn.Linear(4 * height * height, 2)).eval()
    x = images(n=3, size=height, seed=2)
    dictionary = xr.DataArray(
        [[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 3.0, 1.0]], dims=("mode", "channel"), attrs={"layer": "0"}
    )
    shares = np.array([[1.0, 1.0, 0.25, 0.0], [0.0, 0.0, 0.75, 1.0]])  # by hand: channel 2 split 1 : 3
    mixing = model[0].weight.detach().numpy()[:, :, 0, 0]  # (channel, colour)
    readout = model[2].weight.detach().numpy()[1].reshape(4, height, height)  # class 1, (channel, y, x)
    sensitivity = np.einsum("mc,cyx,ck->mkyx", shares, readout, mixing)  # d logit / d x through each mode
    values = x.numpy()
    expected = np.einsum("mkyx,nkyx->nmyx", sensitivity, values)
    maps = contribution_maps(model, x, dictionary, target="class:1", options=QUIET)
    np.testing.assert_allclose(maps.values, expected, rtol=1e-5, atol=1e-6)
    mean_baseline = contribution_maps(
        model,
        x,
        ModeSelection(dictionary, layer="0"),
        target="class:1",
        method="ig",
        n_steps=3,
        baseline="mean",
        options=QUIET,
    )
    centred = np.einsum("mkyx,nkyx->nmyx", sensitivity, values - values.mean(axis=0))
    np.testing.assert_allclose(mean_baseline.values, centred, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_maps_of_a_torchvision_resnet_add_up_over_channel_groups():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=5).eval()
    x = images(n=2, size=32, seed=3)
    groups = np.kron(np.eye(4), np.ones(16))  # 4 disjoint modes of 16 channels each
    maps = contribution_maps(model, x, ModeSelection(groups, layer="layer1"), target="class:2", options=QUIET)
    x_grad = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x_grad)[:, 2].sum(), x_grad)
    expected = (gradient * x).sum(dim=1).numpy()
    np.testing.assert_allclose(maps.sum("mode"), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_bad_input_raises():
    model, x = image_cnn(), images(n=2)
    with pytest.raises(RetinaCodecError, match="modes have 5 channels but layer '1' outputs 4"):
        contribution_maps(model, x, ModeSelection(np.eye(5), layer="1"), options=QUIET)
    with pytest.raises(RetinaCodecError, match="expected \\(image, colour, y, x\\)"):
        contribution_maps(model, x.flatten(1), ModeSelection(np.eye(4), layer="1"), options=QUIET)
    with pytest.raises(RetinaCodecError, match="do not record their layer"):
        contribution_maps(model, x, np.eye(4), options=QUIET)
    with pytest.raises(RetinaCodecError, match="selected_modes"):
        contribution_maps(model, x, ModeSelection(np.eye(4), positions=[4], layer="1"), options=QUIET)
    with pytest.raises(RetinaCodecError, match="contribution_maps does not use options.max_result_gb"):
        contribution_maps(model, x, ModeSelection(np.eye(4), layer="1"), options=AttributionOptions(max_result_gb=1.0))
    with pytest.raises(RetinaCodecError, match="expected dims|expected \\(mode, channel\\)|expected a 2-D"):
        channel_weights(np.ones(3))
