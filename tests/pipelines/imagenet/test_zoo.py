"""Model construction: pretrained EfficientNet-Lite0, torchvision ResNet-50 / ViT-B/16, weights files,
the headwise attention and the default layers."""

from __future__ import annotations

import copy

import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from torchvision.models.vision_transformer import VisionTransformer

from retinacodec import RetinaCodecError
from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.models.adapter import adapt
from retinacodec.models.zoo import (
    HeadwiseAttention,
    fast_inference,
    headwise_vit,
    load_classifier,
    weights_file,
    weights_origin,
)
from retinacodec.pipelines.imagenet.common.layers import default_layers, layer_aliases

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


@pytest.fixture
def small_vit() -> VisionTransformer:
    torch.manual_seed(0)
    vit = VisionTransformer(
        image_size=32, patch_size=16, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=5
    ).eval()
    torch.nn.init.normal_(vit.heads.head.weight)  # torchvision starts the head at zero
    return vit


def test_unknown_model_says_which_names_are_valid():
    with pytest.raises(
        RetinaCodecError,
        match="unknown model 'alexnet2'; expected efficientnet_lite0, efficientnet_lite2, a torchvision classifier",
    ):
        load_classifier("alexnet2")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_efficientnet_chain_equals_package_forward(variant):
    """The zoo's chain, batch norms folded and channels_last, against the package's own model."""
    name = f"efficientnet_{variant}"
    reference = EfficientNet.from_name(f"efficientnet-{variant}")
    reference.load_state_dict(torch.load(weights_file(name, None), weights_only=True))
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))  # any size: the modules are shared
    model = load_classifier(name)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # all folded
    with torch.no_grad():
        expected = reference.eval()(x)
        assert torch.allclose(model(x), expected, atol=1e-4 * float(expected.abs().max()))
        assert torch.allclose(load_classifier(name, fast=False)(x), expected, atol=1e-5)
    assert weights_origin(name, None)["pretrained"] is True


def test_folding_keeps_resnet_outputs():
    """Folding on a ResNet whose batch norms have non-trivial statistics (a fresh one's are 0 and 1)."""
    with pytest.warns(UserWarning):
        plain = load_classifier("resnet50", fast=False)
    generator = torch.Generator().manual_seed(1)
    for module in plain.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.3, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
            module.weight.data.normal_(1.0, 0.2, generator=generator)
    folded = fast_inference(copy.deepcopy(plain))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()) == 0
    x = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.no_grad():
        expected = plain(x)
        assert torch.allclose(folded(x), expected, atol=1e-4 * float(expected.abs().max()))


def test_weights_file_round_trip_and_mismatch(tmp_path):
    state = torch.load(weights_file("efficientnet_lite0", None), weights_only=True)
    state["_fc.bias"] = state["_fc.bias"] + 1.0
    good = tmp_path / "lite0.pt"
    torch.save(state, good)
    model = load_classifier("efficientnet_lite0", weights=good)
    assert torch.equal(model.classifier.bias, state["_fc.bias"])
    bad = tmp_path / "bad.pt"
    torch.save({"fc.weight": torch.zeros(10, 2048), "bogus": torch.zeros(1)}, bad)
    with pytest.raises(RetinaCodecError) as error:
        load_classifier("resnet50", weights=bad)
    message = str(error.value)
    assert "does not fit torchvision's resnet50" in message
    assert "1 unexpected keys (bogus)" in message
    assert "fc.weight (10, 2048) vs (1000, 2048)" in message
    assert "missing keys (conv1.weight, bn1.weight, bn1.bias, ...)" in message
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(RetinaCodecError, match="cannot read weights file"):
        load_classifier("resnet50", weights=text)
    with pytest.raises(RetinaCodecError, match="weights file not found"):
        load_classifier("resnet50", weights=tmp_path / "none.pt")


def test_random_weights_warn_and_are_seeded():
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS: resnet50"):
        first = load_classifier("resnet50", seed=3)
    with pytest.warns(UserWarning):
        again = load_classifier("resnet50", seed=3)
    assert torch.equal(first.conv1.weight, again.conv1.weight)
    origin = weights_origin("resnet50", None, seed=3)
    assert origin["pretrained"] is False and "RANDOM WEIGHTS" in origin["warning"]
    adapted = adapt(first, layers=layer_aliases("resnet50"))
    names = [adapted.resolve(a) for a in default_layers("resnet50")]
    assert len(names) == 16 and names[0] == "layer1.0" and names[7] == "layer3.0" and names[-1] == "layer4.2"


def test_headwise_attention_equals_torchvision(small_vit):
    headwise = headwise_vit(copy.deepcopy(small_vit))
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(headwise(x), small_vit(x), atol=1e-5)
    assert list(headwise.state_dict()) == list(small_vit.state_dict())
    assert isinstance(headwise.encoder.layers[0].self_attention, HeadwiseAttention)


def test_head_contributions_with_and_without_class_token(small_vit):
    """Per-head contributions sum to F(x) - F(start), where the start replaces the layer's output
    by its value at the zero image (computed by hand here); the patch-token layer keeps the class
    token's head outputs at their actual values, so its start differs."""
    model = headwise_vit(small_vit)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    attention = model.encoder.layers[1].self_attention
    starts = {}
    for layer in ("head_outputs", "patch_head_outputs"):
        module = getattr(attention, layer)
        recorded = []
        handle = module.register_forward_hook(lambda m, i, o: recorded.append(o))
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32))
        handle.remove()
        handle = module.register_forward_hook(lambda m, i, o: recorded[0].expand_as(o))
        with torch.no_grad():
            starts[layer] = model(x)[:, 2]
        handle.remove()
        result = contributions(
            model, x, f"encoder.layers.encoder_layer_1.self_attention.{layer}", "class:2", n_steps=24, options=QUIET
        )
        assert result.sizes["channel"] == 4  # one channel per head
        assert torch.allclose(torch.as_tensor(result["baseline_value"].values), starts[layer], atol=1e-5)
        with torch.no_grad():
            difference = (model(x)[:, 2] - starts[layer]).numpy()
        total = result["contribution"].sum("channel").values
        assert abs(total - difference).max() < 1e-3 * max(1.0, abs(difference).max())
    assert not torch.allclose(starts["head_outputs"], starts["patch_head_outputs"], atol=1e-3)


def test_vit_b_16_layers_resolve():
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS"):
        vit = load_classifier("vit_b_16")
    adapted = adapt(vit, layers=layer_aliases("vit_b_16"))
    with_token, without = default_layers("vit_b_16"), default_layers("vit_b_16", class_token=False)
    assert len(with_token) == len(without) == 36
    assert "heads1" in with_token and "heads1_patches" in without and "heads1" not in without
    assert adapted.resolve("mlp12") == "encoder.layers.encoder_layer_11.mlp.1"
    assert adapted.resolve("heads3_patches") == "encoder.layers.encoder_layer_2.self_attention.patch_head_outputs"
    assert sum(isinstance(m, HeadwiseAttention) for m in vit.modules()) == 12
    with pytest.raises(RetinaCodecError, match="class_token=False applies to ViTs only"):
        default_layers("resnet50", class_token=False)


@pytest.mark.parametrize(("name", "n_blocks"), [("efficientnet_lite0", 16), ("efficientnet_lite2", 21)])
def test_efficientnet_lite_intervention_points(name, n_blocks):
    """Block outputs are signed; the post-ReLU6 stages and the head are non-negative and mostly zero."""
    aliases = layer_aliases(name)
    assert default_layers(name) == [f"block{k}" for k in range(1, n_blocks + 1)]  # block outputs only
    assert aliases["head"] == "head" and "block1_expand" not in aliases  # the first block does not expand
    assert aliases[f"block{n_blocks}_depthwise"] == f"blocks.{n_blocks - 1}.depthwise"
    adapted = adapt(load_classifier(name), layers=aliases)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    block = adapted.intervention_point(x, f"block{n_blocks}")
    assert not block.post_nonlinearity and not block.non_negative and not block.zero_is_off
    for layer in (f"block{n_blocks - 2}_expand", f"block{n_blocks - 2}_depthwise", "head"):
        point = adapted.intervention_point(x, layer)
        assert point.last_op == "ReLU6" and point.non_negative and point.zero_is_off and point.zero_fraction > 0.1
    assert adapted.intervention_point(x, "head").channel_mean.shape == (1280,)
