"""The torch.fx split of modules the adapter does not know: the layer path runs only the graph after
the layer, values crossing the layer come from the capture, and the results equal those of the
full rerun; untraceable modules fall back to the rerun with one warning."""

import warnings

import pytest
import torch
from torch import nn

import retinacodec as rc
from retinacodec.attribution.options import AttributionOptions
from retinacodec.models import adapt, adapter
from retinacodec.models.graph_split import split_at
from retinacodec.targets import TopLogit

timm = pytest.importorskip("timm")


class Skip(nn.Module):
    """A skip connection across ``layer``, a shape read before it, an in-place change of a value
    from before it, and a tensor constant."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.layer = nn.Conv2d(4, 4, 3, padding=1)
        self.mix = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        width = x.shape[-1]
        y = torch.tanh(self.layer(h)) + h * torch.tensor(0.5)
        h.add_(y)  # changes a value from before the layer, after it
        y = self.mix(y) * width / 8 + h
        return self.head(y.amax((2, 3)))


class Untraceable(Skip):
    def forward(self, x):
        h = torch.relu(self.stem(x))
        if h.sum() > 0:  # control flow on a value: torch.fx cannot trace it
            h = h * 2
        return self.head(torch.tanh(self.layer(h)).amax((2, 3)))


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    resnet = timm.create_model("resnet18", pretrained=False).eval()
    for module in resnet.modules():  # timm starts each block's last batch norm at zero: its branch adds nothing
        if isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.2)
    return {
        "resnet18": resnet,
        "vit_tiny": timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32).eval(),
        "skip": Skip().eval(),
    }


def _contributions(model, x, layer, split: bool, monkeypatch) -> tuple:
    with monkeypatch.context() as patch:
        if not split:
            patch.setattr(adapter, "split_at", lambda *args: None)  # today's full rerun
        ds = rc.contributions(model, x, layer, TopLogit(), n_steps=4, options=AttributionOptions(progress=False))
    return ds.contribution.values, ds.completeness_error.values


CASES = [
    ("resnet18", "layer3.0", False, "layer2"),
    ("resnet18", "layer4.1.conv1", True, "layer3"),  # inside a block: the block's input crosses the layer
    ("vit_tiny", "blocks.1", False, "blocks.0"),
    ("vit_tiny", "blocks.1.attn", True, "blocks.0"),  # the residual stream crosses the layer
    ("skip", "layer", True, "stem"),
]


@pytest.mark.parametrize("name, layer, needs_context, skipped", CASES)
def test_the_split_reproduces_the_full_rerun_and_skips_the_upstream_part(
    models, name, layer, needs_context, skipped, monkeypatch
):
    model = models[name]
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    adapted = adapt(model)
    with torch.no_grad():
        capture = adapted.capture(x, layer)
        downstream = adapted.downstream(layer)
        context = capture.context  # computed on first read, from the module's recorded input
        calls = []
        handle = model.get_submodule(skipped).register_forward_hook(lambda *args: calls.append(1))
        try:
            replayed = downstream(capture.activation, context)
            again = downstream(capture.activation, context)  # the context is not changed by a call
            noise = torch.randn(capture.activation.shape, generator=torch.Generator().manual_seed(2))
            changed = downstream(capture.activation + noise, context)
        finally:
            handle.remove()
    assert downstream.needs_context == needs_context and (context is not None) == needs_context
    assert calls == [], f"{skipped} ran in the downstream part of {layer}"
    scale = capture.output.norm()
    assert (replayed - capture.output).norm() <= 1e-5 * scale and torch.equal(replayed, again)
    assert (changed - capture.output).norm() > 1e-3 * scale
    ours, our_error = _contributions(model, x, layer, True, monkeypatch)
    rerun, rerun_error = _contributions(model, x, layer, False, monkeypatch)
    assert abs(rerun).max() > 0
    assert abs(ours - rerun).max() <= 1e-5 * abs(rerun).max()
    assert abs(our_error - rerun_error).max() <= 1e-5 * max(1.0, abs(rerun).max())


def test_the_downstream_batch_follows_its_rows_and_the_trace_leaves_the_module_as_it_was(models):
    model = models["skip"]
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    adapted = adapt(model)
    with torch.no_grad():
        capture = adapted.capture(x, "layer")
        rows = torch.tensor([1, 1, 0, 1])  # more rows than inputs: shapes come from the rows run
        context = adapter.select_rows(capture.context, rows, 2)
        replayed = adapted.downstream("layer")(capture.activation[rows], context)
    assert torch.allclose(replayed, capture.output[rows], atol=1e-6)
    assert not any(name.startswith("_tensor_constant") for name in vars(model))


def test_an_untraceable_model_falls_back_to_the_rerun_with_one_warning():
    torch.manual_seed(4)
    model = Untraceable().eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    adapted = adapt(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = rc.contributions(adapted, x, "layer", TopLogit(), n_steps=4, options=AttributionOptions(progress=False))
        downstream = adapted.downstream("layer")
    messages = [str(w.message) for w in caught if "cannot split" in str(w.message)]
    assert len(messages) == 1 and "Untraceable" in messages[0] and "'layer'" in messages[0]
    assert downstream.needs_context  # the whole model reruns from its input
    with torch.no_grad():
        capture = adapted.capture(x, "layer")
        assert torch.allclose(downstream(capture.activation, capture.context), model(x))
    assert abs(ds.completeness_error).max() < 1e-2 * abs(ds.target_value - ds.baseline_value).max()


def test_hooked_modules_keep_running_their_hooks(models):
    model = models["resnet18"]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    calls = []  # a hook with Python side effects: a trace through it would run them once, at trace time
    handle = model.layer4.register_forward_hook(lambda module, inputs, output: calls.append(1) or output * 0.5)
    try:
        adapted = adapt(model)
        with torch.no_grad():
            expected = model(x)
            capture = adapted.capture(x, "layer3.0")
            downstream = adapted.downstream("layer3.0")
            before = len(calls)
            replayed = downstream(capture.activation, capture.context)
    finally:
        handle.remove()
    assert len(calls) == before + 1 and torch.allclose(replayed, expected, atol=1e-6)
    with torch.no_grad():
        assert not torch.allclose(model(x), expected, atol=1e-6)  # the hook mattered


def test_split_at_refuses_a_layer_the_graph_does_not_call_once():
    model = Skip()
    assert split_at(model, nn.Conv2d(4, 4, 1), "elsewhere") is None  # not in the model
    model.register_forward_hook(lambda *args: None)
    assert split_at(model, model.layer, "layer") is None  # a hooked module reruns whole, hook included


class Doubling(nn.Module):
    """Doubles its input in training mode: a Python branch a trace keeps."""

    def forward(self, x):
        return x * 2 if self.training else x


class Trained(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer, self.doubling, self.head = nn.Linear(3, 3), Doubling(), nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.doubling(self.layer(x) + x))


def test_a_change_of_training_mode_traces_again():
    model = Trained().eval()
    adapted = adapt(model)
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(7))
    outputs = []
    with torch.no_grad():
        for training in (False, True, False):
            model.train(training)
            capture = adapted.capture(x, "layer")
            outputs.append(adapted.downstream("layer")(capture.activation, capture.context))
            assert torch.allclose(outputs[-1], model(x))
    assert not torch.allclose(outputs[0], outputs[1])
