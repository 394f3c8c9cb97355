"""rc.irf on image classifiers: torch.autograd's input gradient, IG completeness, a decomposition by
modes that adds up, Hugging Face and timm models with random weights, and refusals."""

import warnings

import numpy as np
import pytest
import torch
import torchvision
import xarray as xr

import retinacodec as rc
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.receptive_fields.instantaneous import irf
from retinacodec.receptive_fields.selection import ModeSelection

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def autograd_gradient(model, images, classes):
    x = images.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[torch.arange(len(x)), classes].sum(), x)
    return gradient.numpy()


def test_gradient_irf_is_autograds_input_gradient_of_the_top_class(resnet, images):
    result = irf(resnet, images, "top", options=QUIET)
    assert result.dims == ("image", "target", "channel", "y", "x") and result.shape == (3, 1, 3, 32, 32)
    with torch.no_grad():
        top = resnet(images).argmax(dim=1)
    assert list(result.target.values) == ["top"]
    assert np.array_equal(result.target_class.values[:, 0], top.numpy())
    expected = autograd_gradient(resnet, images, top)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(result.values[:, 0], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert result.attrs["method"] == "gradient" and result.attrs["baseline"] == "zero input"


def test_targets_are_read_as_contributions_reads_them(resnet, images):
    per_image = irf(resnet, images, [4, 0, 7], options=QUIET)  # one class per image
    assert per_image.sizes["target"] == 1 and list(per_image.target_class.values[:, 0]) == [4, 0, 7]
    np.testing.assert_allclose(
        per_image.values[:, 0], autograd_gradient(resnet, images, torch.tensor([4, 0, 7])), rtol=1e-5, atol=1e-9
    )
    both = irf(resnet, images, ["class:4", "class:2"], options=QUIET)  # each on every image
    assert list(both.target.values) == ["class:4", "class:2"]
    np.testing.assert_allclose(both.values[:, 0], autograd_gradient(resnet, images, torch.tensor([4] * 3)), atol=1e-9)
    assert np.array_equal(both.target_class.values, [[4, 2]] * 3)


def test_images_as_a_dataarray_keep_their_labels_in_any_dim_order(resnet, images):
    labeled = xr.DataArray(
        images.numpy(), dims=("image", "channel", "y", "x"), coords={"image": [10, 11, 12], "channel": ["r", "g", "b"]}
    )
    result = irf(resnet, labeled.transpose("y", "image", "x", "channel"), 3, options=QUIET)
    assert list(result.image.values) == [10, 11, 12] and list(result.channel.values) == ["r", "g", "b"]
    np.testing.assert_array_equal(result.values, irf(resnet, images, 3, options=QUIET).values)


def test_ig_irf_times_the_images_sums_to_the_target_change(resnet, images):
    result = irf(resnet, images, 2, method="ig", n_steps=64, options=QUIET)
    with torch.no_grad():
        change = (resnet(images)[:, 2] - resnet(torch.zeros_like(images))[:, 2]).numpy()
    summed = (result.values[:, 0] * images.numpy()).sum(axis=(1, 2, 3))
    assert np.abs(change).min() > 1e-3
    np.testing.assert_allclose(summed, change, rtol=2e-2, atol=1e-4)
    assert result.attrs["quadrature"] == "gausslegendre" and result.attrs["n_steps"] == 64


def test_modes_that_partition_the_channels_split_the_irf_with_no_residual(resnet, images):
    dictionary = np.zeros((4, 512))
    for k in range(4):
        dictionary[k, 128 * k : 128 * (k + 1)] = 1.0
    result = irf(resnet, images, "top", modes=ModeSelection(dictionary, layer="layer4"), options=QUIET)
    assert result.mode_irf.dims == ("image", "target", "mode", "channel", "y", "x")
    assert result.explained.dims == ("image", "target") and result.loadings.dims == ("image", "target", "mode")
    scale = float(np.abs(result.irf).max())
    assert float(np.abs(result.mode_irf).max()) > 0.1 * scale
    np.testing.assert_allclose(result.mode_irf.sum("mode") + result.residual, result.irf, atol=1e-6 * scale)
    assert float(np.abs(result.residual).max()) < 1e-5 * scale  # every path runs through layer4
    assert result.attrs["layer"] == "layer4"


def test_bad_image_input_raises(resnet, images, make_cnn):
    with pytest.raises(RetinaCodecError, match="times 0.5 given with images; expected times=None"):
        irf(resnet, images, "top", 0.5, options=QUIET)
    with pytest.raises(RetinaCodecError, match=r"images have dims \('image', 'y', 'x'\); expected \(image, channel"):
        irf(resnet, xr.DataArray(images[:, 0].numpy(), dims=("image", "y", "x")), options=QUIET)
    with pytest.raises(RetinaCodecError, match=r"images have shape \(3, 32, 32\); expected \(N, C, H, W\)"):
        irf(resnet, images[:, 0], options=QUIET)
    with pytest.raises(RetinaCodecError, match="class index 10 is out of range"):
        irf(resnet, images, "class:10", options=QUIET)
    with pytest.raises(RetinaCodecError, match="target gives 2 class indices for 3 inputs"):
        irf(resnet, images, [1, 2], options=QUIET)
    with pytest.raises(RetinaCodecError, match="max_result_gb"):
        irf(resnet, images, options=AttributionOptions(max_result_gb=1e-6, progress=False))
    with pytest.raises(RetinaCodecError, match="expected a stimulus DataArray|expected .*time, y, x"):
        irf(make_cnn(2, history=5), torch.zeros(1, 5, 16, 16), options=QUIET)


def vit_config():
    transformers = pytest.importorskip("transformers")
    return transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
    )


def test_hugging_face_vit_with_random_weights_needs_no_wrapper(images):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(vit_config()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # which output it explains: its .logits
        result = irf(model, images, "top", method="ig", n_steps=32, options=QUIET)
    adapted = irf(rc.models.adapt(model, output="logits"), images, "top", method="ig", n_steps=32, options=QUIET)
    np.testing.assert_array_equal(result.values, adapted.values)
    classes = torch.as_tensor(result.target_class.values[:, 0])
    with torch.no_grad():
        change = model(images).logits[torch.arange(3), classes] - model(torch.zeros_like(images)).logits[0, classes]
    summed = (result.values[:, 0] * images.numpy()).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(summed, change.numpy(), rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize(("name", "kwargs"), [("vit_tiny_patch16_224", {"img_size": 32}), ("resnet18", {})])
def test_timm_models_with_random_weights_run(images, name, kwargs):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10, **kwargs).eval()
    result = irf(model, images, "class:3", options=QUIET)
    assert result.shape == (3, 1, 3, 32, 32)
    np.testing.assert_allclose(
        result.values[:, 0],
        autograd_gradient(model, images, torch.tensor([3] * 3)),
        rtol=1e-4,
        atol=1e-6 * float(np.abs(result.values).max()),
    )
