"""Agreement with Captum on a randomly initialised torchvision ResNet-18 (weights=None)."""

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import IntegratedGradients, LayerConductance, LayerIntegratedGradients
from torch import nn

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.targets import TopLogit

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


def resnet18(smooth: bool = False) -> nn.Module:
    """ResNet-18 with random batch-norm statistics and affine terms (a fresh one has zero biases and
    unit variances, which make it positively homogeneous and IG trivially exact along rays).
    ``smooth`` swaps the ReLUs for Softplus so that quadratures converge as their theory says."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.3, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
            module.weight.data.normal_(1.0, 0.2, generator=generator)
            module.bias.data.normal_(0.0, 0.3, generator=generator)
        if smooth and hasattr(module, "relu"):
            module.relu = nn.Softplus()
    return model.eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))


def relative_error(ours: np.ndarray, reference: torch.Tensor) -> float:
    reference = reference.detach().numpy()
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


def test_layer_path_equals_captum_integrated_gradients_on_the_downstream_network(images):
    """Our layer path is IG with the layer's activations as the input: Captum's IntegratedGradients
    on the downstream network (layer4, pool, fc), from the activation of the zero image, built here
    by hand, and Captum's LayerIntegratedGradients on the whole model must both agree."""
    model = resnet18()
    ours = contributions(model, images, "layer3", TopLogit(), n_steps=16, options=QUIET)
    with torch.no_grad():
        classes = model(images).argmax(1)

        def upstream(x):
            x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
            return model.layer3(model.layer2(model.layer1(x)))

        activation, start = upstream(images), upstream(torch.zeros_like(images[:1])).expand(2, -1, -1, -1)
    downstream = nn.Sequential(model.layer4, model.avgpool, nn.Flatten(), model.fc)
    integrated = IntegratedGradients(downstream).attribute(
        activation, baselines=start, target=classes, n_steps=16, method="gausslegendre"
    )
    assert relative_error(ours.contribution.values, integrated.sum((2, 3))) < 1e-4
    layer_ig = LayerIntegratedGradients(model, model.layer3).attribute(
        images, baselines=torch.zeros_like(images), target=classes, n_steps=16, method="gausslegendre"
    )
    assert relative_error(ours.contribution.values, layer_ig.sum((2, 3))) < 1e-4


def test_input_path_equals_captum_conductance_where_its_scheme_is_exact(images):
    """Captum's LayerConductance sums grad(alpha_k) * (a(alpha_{k+1}) - a(alpha_k)) over the points
    of its rule with n + 1 points and ignores the rule's weights. For riemann_trapezoid the points
    are k/n, so for a layer affine in the input (conv1: a(alpha) = a0 + alpha (a - a0)) the sum is
    exactly our left-Riemann rule with n nodes k/n and weights 1/n."""
    model = resnet18()
    with torch.no_grad():
        classes = model(images).argmax(1)
    ours = contributions(
        model,
        images,
        "conv1",
        TopLogit(),
        method="riemann_left",
        n_steps=8,
        options=AttributionOptions(path="input", progress=False),
    )
    captum = LayerConductance(model, model.conv1).attribute(
        images, baselines=torch.zeros_like(images), target=classes, n_steps=8, method="riemann_trapezoid"
    )
    assert relative_error(ours.contribution.values, captum.sum((2, 3))) < 1e-5


def test_input_path_agrees_with_captum_conductance_extrapolated_to_many_steps(images):
    """For a non-affine layer Captum's sum is a left Riemann-Stieltjes sum, with error C/n + O(1/n^2)
    on a smooth network; Richardson extrapolation 2 LC(2n) - LC(n) removes the 1/n term. Our
    Gauss-Legendre result with 8 nodes must agree within 1% (it is far closer: about 1e-5)."""
    model = resnet18(smooth=True)
    with torch.no_grad():
        classes = model(images).argmax(1)
    ours = contributions(
        model, images, "layer2", TopLogit(), n_steps=8, options=AttributionOptions(path="input", progress=False)
    )
    conductance = LayerConductance(model, model.layer2)
    coarse, fine = (
        conductance.attribute(
            images, baselines=torch.zeros_like(images), target=classes, n_steps=n, method="riemann_trapezoid"
        ).sum((2, 3))
        for n in (16, 32)
    )
    assert relative_error(ours.contribution.values, 2 * fine - coarse) < 1e-2
    assert relative_error(ours.contribution.values, fine) > relative_error(ours.contribution.values, 2 * fine - coarse)
    relative_completeness = np.abs(ours.completeness_error) / np.abs(ours.target_value - ours.baseline_value)
    assert float(relative_completeness.max()) < 1e-4


@pytest.mark.slow
def test_captum_style_targets_equal_captum_layer_integrated_gradients(images):
    """Targets as Captum users write them: a tensor or list of one class per input (here run in
    chunks of one input), an int for every input, and the layer given as a module."""
    model = resnet18()
    classes = torch.tensor([3, 7])
    ours = {
        "tensor": contributions(model, images, model.layer3, classes, n_steps=16, options=QUIET),
        "list": contributions(model, images, "layer3", [3, 7], n_steps=16, batch_size=16, options=QUIET),
        "int": contributions(model, images, model.layer3, 5, n_steps=16, options=QUIET),
    }
    explain = LayerIntegratedGradients(model, model.layer3)
    captum = {
        target: explain.attribute(
            images, baselines=torch.zeros_like(images), target=target, n_steps=16, method="gausslegendre"
        ).sum((2, 3))
        for target in (classes, 5)
    }
    assert relative_error(ours["tensor"].contribution.values, captum[classes]) < 1e-4
    assert np.allclose(ours["list"].contribution, ours["tensor"].contribution, rtol=1e-5, atol=1e-7)
    assert relative_error(ours["int"].contribution.values, captum[5]) < 1e-4
    assert ours["tensor"].target_class.values.tolist() == [3, 7] and ours["tensor"].attrs["layer"] == "layer3"
    with torch.no_grad():
        logits = model(images)
    assert np.allclose(ours["tensor"].target_value, [logits[0, 3], logits[1, 7]], rtol=1e-5)
