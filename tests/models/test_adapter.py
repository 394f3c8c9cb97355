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
    with pytest.raises(RetinaCodecError, match=r"expected a torch.nn.Module \(pass a forward function with its module"):
        adapt(lambda x: x)
    with pytest.raises(RetinaCodecError, match="expected a torch.nn.Module$"):
        adapt(3)
    with pytest.raises(RetinaCodecError, match="forward is a int"):
        adapt(nn.Linear(2, 2), forward=3)
    with pytest.raises(RetinaCodecError, match="output is a float"):
        adapt(nn.Linear(2, 2), output=0.5)


def test_a_layer_given_as_a_module_resolves_to_its_name(zoo):
    model = adapt(zoo["resnet50"])
    assert model.resolve(zoo["resnet50"].layer3[2]) == "layer3.2"
    stranger = zoo["efficientnet_b0"].features[4]
    with pytest.raises(RetinaCodecError) as refused:
        model.resolve(stranger)
    message = str(refused.value)
    assert message.startswith("layer is a Sequential module that is not a submodule of it; expected a submodule")
    assert len(message) < 200 and "Conv2d(" not in message  # never the module's repr
    with pytest.raises(RetinaCodecError, match="is the model itself"):
        model.resolve(zoo["resnet50"])


class Tupled(nn.Module):
    """Returns (aux, logits), like a model with an auxiliary head; ``mix`` outputs (tensor, None),
    like an attention layer."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(3, 4)
        self.mix = Mix()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> tuple:
        hidden, _ = self.mix(self.first(x))
        return hidden.sum(1), self.head(torch.tanh(hidden)) * scale


class Mix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple:
        return self.linear(x) + x, None


TUPLED = Tupled().eval()
SELECTIONS = [{"output": 1}, {"output": lambda out: out[1]}, {"forward": lambda x: TUPLED(x)[1]}]


@pytest.mark.parametrize("options", SELECTIONS)
def test_output_selectors_and_forward_functions_reach_capture_and_downstream(options, recwarn):
    model = adapt(TUPLED, **options)
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = TUPLED(x)[1]
        capture = model.capture(x, "first")
        assert torch.equal(capture.output, expected) and torch.equal(model(x), expected)
        downstream = model.downstream("first")
        # a forward function reruns the whole network; the module itself is split by torch.fx
        assert downstream.needs_context == ("forward" in options)
        assert torch.allclose(downstream(capture.activation, capture.context), expected)
    assert len(recwarn) == 0


def test_a_tuple_output_defaults_to_its_first_tensor_with_a_warning():
    said = r"Tupled returns an output of type tuple \(Tensor, Tensor\); explaining its first tensor \(element 0\)"
    with pytest.warns(UserWarning, match=said):
        capture = adapt(TUPLED).capture(torch.randn(2, 3), "first")
    assert capture.output.shape == (2,)


def test_a_layer_that_outputs_a_tuple_stands_for_its_first_tensor():
    model = adapt(TUPLED, output=1)
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(7))
    said = r"layer 'mix' outputs a tuple; explaining its first tensor \(element 0\), shape \(N, 4\)"
    with pytest.warns(UserWarning, match=said):
        capture = model.capture(x, "mix")
    replaced = torch.zeros_like(capture.activation)
    with torch.no_grad():
        assert torch.allclose(model.downstream("mix")(replaced, capture.context), TUPLED.head(replaced))


def test_forward_kwargs_reach_every_forward_pass():
    model = adapt(TUPLED, output=1).with_forward_kwargs({"scale": 3.0})
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        capture = model.capture(x, "first")
        assert torch.allclose(capture.output, 3 * TUPLED(x)[1]) and torch.allclose(model(x), capture.output)
        doubled = model.downstream("first")(2 * capture.activation, capture.context)
        assert torch.allclose(doubled, 3 * TUPLED.head(torch.tanh(TUPLED.mix(2 * capture.activation)[0])))


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


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x) + x


def test_intervention_point_by_hand():
    """Last op, sign, zeros and means of a ReLU, a conv, a GELU and a residual sum."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 3, 1), nn.GELU()), _Residual())
    adapted = adapt(model.eval(), layers={"act": "1"})
    x = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        conv, relu = model[0](x), model[1](model[0](x))
    point = adapted.intervention_point(x, "act")
    assert (point.layer, point.module, point.last_op, point.n_inputs) == ("act", "1", "ReLU", 6)
    assert point.post_nonlinearity and point.non_negative and point.zero_is_off
    assert point.zero_fraction == pytest.approx(float((relu == 0).double().mean()))
    assert point.mean == pytest.approx(float(relu.double().mean()))
    signed = adapted.intervention_point(x, "0")
    assert signed.last_op == "Conv2d" and not signed.post_nonlinearity and not signed.non_negative
    expected_means = conv.double().mean((0, 2, 3))
    torch.testing.assert_close(torch.as_tensor(signed.channel_mean), expected_means)
    offset = float(expected_means.square().mean().sqrt() / conv.double().square().mean().sqrt())
    assert signed.mean_offset == pytest.approx(offset)
    assert signed.zero_is_off == (offset < 0.1)
    gelu = adapted.intervention_point(x, "2")  # a Sequential: its last child is the last op
    assert gelu.last_op == "GELU" and gelu.post_nonlinearity and not gelu.non_negative
    assert adapted.intervention_point(x, "3").last_op == ""  # a residual sum is no module's output


def test_intervention_point_of_a_bottleneck_is_its_last_relu(zoo):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    point = adapt(zoo["resnet50"]).intervention_point(x, "layer3.1")
    assert point.last_op == "ReLU" and point.post_nonlinearity and point.non_negative and 0 < point.zero_fraction < 1
    assert point.channel_mean.shape == (1024,)


def test_intervention_point_refuses_a_layer_off_the_path():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(RetinaCodecError, match="did not run"):
        adapt(Unused()).intervention_point(torch.zeros(2, 3), "spare")
