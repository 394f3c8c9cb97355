"""Reading the tensor to explain out of what a model or a layer returns."""

from collections import OrderedDict, namedtuple

import pytest
import torch

from retinacodec.errors import RetinaCodecError
from retinacodec.models.outputs import check_selector, layer_tensor, select_output, with_layer_tensor

LOGITS = torch.arange(6.0).reshape(2, 3)
HIDDEN = torch.zeros(2, 4, 5)


class ModelOutput(OrderedDict):
    """Like Hugging Face's ModelOutput: a mapping whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def test_a_tensor_is_taken_as_it_is_without_a_warning(recwarn):
    assert select_output(LOGITS, None, "Net") is LOGITS
    assert len(recwarn) == 0


@pytest.mark.parametrize(
    "output, said",
    [
        (ModelOutput(loss=None, logits=LOGITS, hidden_states=HIDDEN), r"explaining its \.logits, shape \(N, 3\)"),
        ((LOGITS, HIDDEN), r"tuple \(Tensor, Tensor\); explaining its first tensor \(element 0\)"),
        ([None, LOGITS], r"explaining its first tensor \(element 1\)"),
        ({"aux": None, "scores": LOGITS}, r"explaining its first tensor \(key 'scores'\)"),
    ],
)
def test_the_default_takes_logits_or_the_first_tensor_and_says_so(output, said):
    with pytest.warns(UserWarning, match=said):
        assert select_output(output, None, "Net") is LOGITS


@pytest.mark.parametrize(
    "selector",
    ["logits", 1, -1, lambda out: out["logits"] * 1],
)
def test_a_selector_picks_by_name_index_or_function(selector):
    output = ModelOutput(hidden_states=HIDDEN, logits=LOGITS) if not isinstance(selector, int) else (HIDDEN, LOGITS)
    assert torch.equal(select_output(output, selector, "Net"), LOGITS)


@pytest.mark.parametrize(
    "output, selector, message",
    [
        (LOGITS, "logits", r"output='logits' picks nothing from the Tensor that Net returns"),
        ((LOGITS,), 3, "picks nothing"),
        (ModelOutput(loss=None, logits=LOGITS), "loss", "picks nothing"),
        ((LOGITS, "text"), 1, "picks a str"),
    ],
)
def test_a_selector_that_picks_no_tensor_is_refused(output, selector, message):
    with pytest.raises(RetinaCodecError, match=message):
        select_output(output, selector, "Net")


def test_an_output_without_a_tensor_is_refused_naming_the_way_out():
    with pytest.raises(RetinaCodecError, match=r"returns an output of type str; .*adapt\(model, output="):
        select_output("logits", None, "Net")


def test_selectors_of_the_wrong_kind_are_refused():
    assert check_selector("logits") == "logits" and check_selector(None) is None
    for bad in (1.5, True, ["logits"]):
        with pytest.raises(RetinaCodecError, match="expected an attribute or key name"):
            check_selector(bad)


def test_a_layer_tuple_stands_for_its_first_tensor_and_keeps_the_rest_when_replaced():
    Pair = namedtuple("Pair", "weights hidden")
    replacement = torch.ones(2, 4, 5)
    assert layer_tensor(HIDDEN) == (None, HIDDEN) and with_layer_tensor(HIDDEN, None, replacement) is replacement
    for output in [(None, HIDDEN, LOGITS), [None, HIDDEN], Pair(None, HIDDEN)]:
        position, tensor = layer_tensor(output)
        assert position == 1 and tensor is HIDDEN
        replaced = with_layer_tensor(output, position, replacement)
        assert type(replaced) is type(output) and replaced[1] is replacement and replaced[0] is None
    assert layer_tensor((None, "x")) == (None, None)
