"""The adapter: layer names, capture, and a downstream part that reproduces the model's output
while running only what lies after the layer."""

import pytest
import torch
import torchvision
from torch import nn

from retinacodec.errors import RetinaCodecError
from retinacodec.models import AdaptedModel, adapt


@pytest.fixture(scope="module")
def zoo():
    """Randomly initialised torchvision models (weights=None), small inputs."""
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(weights=None, image_size=32)
    nn.init.normal_(vit.heads.head.weight, std=0.02)  # torchvision starts the head at zero
    return {
        "resnet50": torchvision.models.resnet50(weights=None).eval(),
        "efficientnet_b0": torchvision.models.efficientnet_b0(weights=None).eval(),
        "vit_b_16": vit.eval(),
    }


def _calls(module: nn.Module) -> list:
    """Record every call of ``module`` in a list (remove the hook with the returned handle)."""
    calls = []
    module._test_handle = module.register_forward_hook(lambda *args: calls.append(1))
    return calls


# model, layer, whether the downstream part reruns an enclosing module, channel axis, module
# that must NOT run in a downstream call (proof that the upstream part is skipped)
CASES = [
    ("resnet50", "layer3", False, 1, "layer2"),
    ("resnet50", "layer3.2", False, 1, "layer3.1"),
    ("resnet50", "layer4", False, 1, "conv1"),
    ("resnet50", "layer3.2.conv2", True, 1, "layer3.1"),  # inside a Bottleneck: that block's graph after it
    ("efficientnet_b0", "features.4", False, 1, "features.3"),
    ("efficientnet_b0", "features.4.1.block", True, 1, "features.4.0"),
    ("vit_b_16", "encoder.layers.encoder_layer_5", False, 2, "encoder.layers.encoder_layer_4"),
    ("vit_b_16", "encoder.layers.encoder_layer_5.mlp", True, 2, "encoder.layers.encoder_layer_4"),
    ("vit_b_16", "conv_proj", True, 1, "conv_proj"),  # the ViT's traced graph after it (the input's shape crosses)
]


@pytest.mark.parametrize("name, layer, needs_context, channel_axis, skipped", CASES)
def test_downstream_of_the_captured_activation_reproduces_the_output(
    zoo, name, layer, needs_context, channel_axis, skipped
):
    model = adapt(zoo[name])
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = zoo[name](x)
        capture = model.capture(x, layer)
        downstream = model.downstream(layer)
        assert downstream.needs_context == needs_context
        if skipped is not None:
            calls = _calls(dict(zoo[name].named_modules())[skipped])
        try:
            replayed = downstream(capture.activation, capture.context)
            # a different activation changes the output: the replacement is really used
            noise = torch.randn(capture.activation.shape, generator=torch.Generator().manual_seed(3))
            changed = downstream(capture.activation + noise, capture.context)
        finally:
            if skipped is not None:
                dict(zoo[name].named_modules())[skipped]._test_handle.remove()
    scale = expected.norm()  # a random EfficientNet's logits are tiny (about 1e-14): compare relatively
    assert torch.equal(capture.output, expected)
    assert (replayed - expected).norm() <= 1e-5 * scale
    assert (changed - expected).norm() > 1e-3 * scale
    if skipped is not None:
        assert calls == [], f"{skipped} ran in the downstream part of {layer}"
    assert model.channel_axis(layer, capture.activation) == channel_axis


def test_capture_can_stop_at_the_layer(zoo):
    model = adapt(zoo["resnet50"])
    calls = _calls(zoo["resnet50"].layer4)
    try:
        capture = model.capture(torch.randn(1, 3, 32, 32), "layer2", stop=True)
    finally:
        zoo["resnet50"].layer4._test_handle.remove()
    assert capture.output is None and calls == [] and capture.activation.shape == (1, 512, 4, 4)


def test_retina_cnn_stages_are_a_chain(tiny_cnn):
    model = tiny_cnn
    adapted = adapt(model)
    x = torch.randn(3, 6, 16, 16)
    with torch.no_grad():
        capture = adapted.capture(x, "amacrine")
        downstream = adapted.downstream("amacrine")
        assert not downstream.needs_context
        assert torch.allclose(downstream(capture.activation), model(x))
    assert {"bipolar", "amacrine", "ganglion"} <= set(adapted.layers)
    assert adapted.channel_axis("amacrine", capture.activation) == 1


def test_a_downstream_part_that_reruns_its_enclosing_module_refuses_a_missing_context():
    class Residual(nn.Module):  # an unknown forward: the block's graph after ``inner``, its input crossing
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.inner(x)

    model = adapt(nn.Sequential(Residual(), nn.Linear(3, 2)))
    x = torch.randn(2, 3)
    with torch.no_grad():
        capture = model.capture(x, "0.inner")
        downstream = model.downstream("0.inner")
        assert downstream.needs_context and capture.context is not None
        assert torch.allclose(downstream(capture.activation, capture.context), model.module(x))
        with pytest.raises(RetinaCodecError, match=r"expected the context of the capture .*, got None"):
            downstream(capture.activation)


def test_aliases_resolve_and_are_listed():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model = adapt(net, layers={"hidden": "1"})
    assert model.resolve("hidden") == "1" and model.layers == ["hidden", "0", "1", "2"]
    assert isinstance(model, AdaptedModel) and adapt(model) is model
    with pytest.raises(RetinaCodecError, match="alias 'out' points to '7'"):
        adapt(net, layers={"out": "7"})


def test_unknown_layer_lists_valid_names_or_closest_matches(zoo):
    with pytest.raises(RetinaCodecError, match=r"unknown layer 'layer9'.*expected one of: 0, 1, 2"):
        adapt(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))).resolve("layer9")
    with pytest.raises(RetinaCodecError, match=r"closest names: layer3.*layers in all"):
        adapt(zoo["resnet50"]).resolve("layr3")


def test_a_module_run_several_times_is_refused(zoo):
    with pytest.raises(RetinaCodecError, match="ran 3 times"):
        adapt(zoo["resnet50"]).capture(torch.randn(1, 3, 32, 32), "layer1.0.relu")


def test_channel_axis_rules_and_override():
    model = adapt(nn.Sequential(nn.Conv1d(2, 5, 3), nn.Flatten()), channel_axes={"0": 1})
    activation = model.capture(torch.randn(2, 2, 9), "0").activation
    assert model.channel_axis("0", activation) == 1  # (N, C, L); the default rule would say tokens
    plain = adapt(nn.Sequential(nn.Conv1d(2, 5, 3)))
    assert plain.channel_axis("0", activation) == 2
    with pytest.raises(RetinaCodecError, match="outputs shape"):
        plain.channel_axis("0", torch.zeros(2, 3, 4, 5, 6, 7))


def test_non_modules_are_refused():
    with pytest.raises(RetinaCodecError, match="expected a torch.nn.Module"):
        adapt(lambda x: x)


def test_captured_activation_stays_in_the_graph_of_the_output(zoo):
    """Callers differentiate the output with respect to the captured activation; the gradient must
    equal the one through the downstream part, also inside a block that adds its input in place."""
    model = adapt(zoo["efficientnet_b0"])
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    capture = model.capture(x, "features.4.1.block")
    (through_model,) = torch.autograd.grad(capture.output[0, :10].sum(), capture.activation)
    rows = capture.activation.detach().requires_grad_()
    replayed = model.downstream("features.4.1.block")(rows, capture.context)
    (through_downstream,) = torch.autograd.grad(replayed[0, :10].sum(), rows)
    assert through_model.abs().sum() > 0
    assert torch.allclose(through_model, through_downstream, rtol=1e-4, atol=1e-20)


def test_a_graph_from_the_layers_gives_the_same_gradients_and_holds_nothing_below_them(zoo):
    """graph_from_layers: the first layer's output is a leaf (nothing below it is in the graph) and the
    gradients with respect to every recorded layer equal those of the whole-network graph."""
    model = adapt(zoo["resnet50"])
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    layers = ["layer2", "layer3.1", "layer4"]
    found = {}
    for flag in (False, True):
        with torch.enable_grad():
            captures = model.capture_layers(x.clone().requires_grad_(), layers, graph_from_layers=flag)
            activations = [captures[layer].activation for layer in layers]
            found[flag] = torch.autograd.grad(captures[layers[0]].output[:, :5].sum(), activations)
        first = captures["layer2"].activation
        assert (first.grad_fn is None and first.is_leaf) == flag  # the graph starts at the first layer
    for whole, cut in zip(found[False], found[True]):
        assert whole.abs().sum() > 0 and torch.allclose(whole, cut, rtol=1e-5, atol=1e-7)
    with torch.no_grad():  # the caller's grad mode is left as it was
        model.capture_layers(x, layers, graph_from_layers=True)
        assert not torch.is_grad_enabled()
