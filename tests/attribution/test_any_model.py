"""Models as users bring them, random weights, no wrapper: Hugging Face and timm classifiers, a
multi-session retina model whose output has a time axis."""

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.models import adapt
from retinacodec.targets import Cell

QUIET = AttributionOptions(progress=False)


def assert_complete(ds, relative: float = 1e-3) -> None:
    """Completeness within the usual error: the contributions sum to the change of the target."""
    change = np.abs(ds.target_value - ds.baseline_value).values
    assert change.min() > 0 and np.abs(ds.completeness_error).values.max() < relative * change.max()


@pytest.fixture(scope="module")
def hf_vit():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
    )
    return transformers.ViTForImageClassification(config).eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _first(model: nn.Module, kind: str) -> nn.Module:
    """The first submodule of class ``kind`` (module names differ between transformers versions)."""
    return next(m for m in model.modules() if type(m).__name__ == kind)


@pytest.mark.slow  # importing transformers takes seconds
def test_a_hugging_face_vit_explains_its_logits_without_a_wrapper(hf_vit, images):
    with pytest.warns(UserWarning, match=r"ImageClassifierOutput; explaining its \.logits, shape \(N, 5\)"):
        ds = contributions(hf_vit, images, _first(hf_vit, "ViTLayer"), "top", n_steps=16, options=QUIET)
    with torch.no_grad():
        logits = hf_vit(images).logits
    assert np.allclose(ds.target_value, logits.max(1).values, rtol=1e-5)
    assert ds.sizes["channel"] == 32
    assert_complete(ds)


@pytest.mark.slow  # importing transformers takes seconds
def test_hugging_face_output_selector_and_forward_function_agree_with_the_default(hf_vit, images, recwarn):
    layer = _first(hf_vit, "ViTLayer")
    given = {
        "output": contributions(adapt(hf_vit, output="logits"), images, layer, [1, 4], n_steps=8, options=QUIET),
        "forward": contributions(
            adapt(hf_vit, forward=lambda x: hf_vit(x).logits), images, layer, [1, 4], n_steps=8, options=QUIET
        ),
    }
    said = [str(w.message) for w in recwarn if "returns an output of type" in str(w.message)]
    assert not said  # said which tensor: no warning about the output (torch.fx may warn it cannot split)
    assert np.allclose(given["output"].contribution, given["forward"].contribution, rtol=1e-5, atol=1e-8)
    assert given["output"].target_class.values.tolist() == [1, 4]


@pytest.mark.slow  # importing transformers takes seconds
def test_a_hugging_face_attention_layer_stands_for_its_first_tensor(hf_vit, images):
    with pytest.warns(UserWarning, match=r"outputs a tuple; explaining its first tensor \(element 0\)"):
        ds = contributions(adapt(hf_vit, output="logits"), images, _first(hf_vit, "ViTAttention"), 2, options=QUIET)
    assert_complete(ds)


@pytest.mark.slow
@pytest.mark.parametrize("name, layer", [("vit_tiny_patch16_224", "blocks.5"), ("resnet18", "layer3")])
def test_timm_models_without_a_wrapper(name, layer, images):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    small = {"img_size": 32, "patch_size": 8} if name.startswith("vit") else {}
    model = timm.create_model(name, pretrained=False, num_classes=5, **small).eval()
    ds = contributions(model, images[:1], layer, "top", n_steps=16, options=QUIET)
    with torch.no_grad():
        assert np.allclose(ds.target_value, model(images[:1]).max(1).values, rtol=1e-5)
    assert_complete(ds)


class Sessions(nn.Module):
    """A retina model in openretina's shape: a shared core, one readout per recording session
    (``data_key``), output (N, time, cells); session "a" has 3 cells, session "b" 4."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.core = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Softplus())
        self.readout = nn.ModuleDict({"a": nn.Linear(3 * 36, 5 * 3), "b": nn.Linear(3 * 36, 5 * 4)})

    def forward(self, x: torch.Tensor, data_key: str = "a") -> torch.Tensor:
        out = self.readout[data_key](self.core(x).flatten(1))
        return out.reshape(x.shape[0], 5, -1)


def test_a_cell_of_one_session_at_a_reduction_over_time_explains_that_readout():
    model = Sessions().double().eval()
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    ds = contributions(model, x, "core", Cell(3, time="mean", session="b"), n_steps=8, options=QUIET)
    by_hand = adapt(model, forward=lambda inputs: model(inputs, data_key="b"))
    expected = contributions(by_hand, x, "core", lambda out: out[:, :, 3].mean(1), n_steps=8, options=QUIET)
    assert np.allclose(ds.contribution, expected.contribution, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        assert np.allclose(ds.target_value, model(x, data_key="b")[:, :, 3].mean(1))
    assert ds.attrs["target"] == "cell:3 (time=mean, session=b)"
    assert_complete(ds, 1e-6)
    last = contributions(model, x, "core", Cell(1), n_steps=8, options=QUIET)  # session a, last time bin
    with torch.no_grad():
        assert np.allclose(last.target_value, model(x)[:, -1, 1])
    with pytest.raises(RetinaCodecError, match=r"cell index 3 is out of range; expected an integer in 0\.\.2"):
        contributions(model, x, "core", Cell(3), options=QUIET)
