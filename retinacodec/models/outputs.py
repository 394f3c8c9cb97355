"""Read a tensor out of what a model or one of its layers returns: a tensor, a tuple, or a
``ModelOutput``-like object (Hugging Face's ``ImageClassifierOutput`` with its ``.logits``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch

from ..errors import RetinaCodecError

OutputSelector = str | int | Callable[[Any], torch.Tensor]
"""Which tensor of a model's output to explain: a name (an attribute such as ``"logits"``, or a
key), an index into a tuple or list, or a function of the whole output."""


def _kind(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} ({', '.join(type(v).__name__ for v in value)})"
    return type(value).__name__


def _shape(tensor: torch.Tensor) -> str:
    """The shape with the batch axis written N: the same for every batch."""
    return f"({', '.join(['N', *map(str, tensor.shape[1:])])})"


def _first_tensor(values: Sequence) -> int | None:
    return next((i for i, v in enumerate(values) if isinstance(v, torch.Tensor)), None)


def _default(output: Any, model: str) -> torch.Tensor:
    """The tensor itself, ``.logits``, or the first tensor of a tuple, list or mapping (with a warning)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        chosen, how = logits, "its .logits"
    else:
        keys = list(output) if isinstance(output, Mapping) else None
        values = list(output) if isinstance(output, (tuple, list)) else [output[k] for k in keys or []]
        position = _first_tensor(values)
        if position is None:
            raise RetinaCodecError(
                f"{model} returns an output of type {_kind(output)}; expected a tensor, a tuple holding one, or an "
                "object with a .logits tensor (or say which tensor to explain: adapt(model, output=NAME, INDEX or "
                "FUNCTION))"
            )
        chosen = values[position]
        how = f"its first tensor ({f'key {keys[position]!r}' if keys is not None else f'element {position}'})"
    warnings.warn(
        f"{model} returns an output of type {_kind(output)}; explaining {how}, shape {_shape(chosen)} (choose "
        "another with adapt(model, output=...))",
        stacklevel=4,
    )
    return chosen


def check_selector(selector: object) -> OutputSelector | None:
    """``selector`` if it is None or an :data:`OutputSelector`.

    Raises
    ------
    RetinaCodecError
        For anything else.
    """
    if selector is None or callable(selector) or (isinstance(selector, (str, int)) and not isinstance(selector, bool)):
        return cast(OutputSelector | None, selector)
    raise RetinaCodecError(
        f"output is a {type(selector).__name__}; expected an attribute or key name, an index into a tuple, a "
        "function of the output, or None"
    )


def select_output(output: Any, selector: OutputSelector | None, model: str) -> torch.Tensor:
    """The tensor of a model's output that targets read.

    Parameters
    ----------
    output : object
        What the model returned.
    selector : str, int, callable or None
        See :data:`OutputSelector`; None takes a tensor as it is, else ``.logits``, else the first
        tensor of a tuple, list or mapping, and says so in a warning.
    model : str
        The model's name, for messages.

    Returns
    -------
    torch.Tensor
        Shape (N, ...).

    Raises
    ------
    RetinaCodecError
        If the selector names nothing in the output, or what it picks is not a tensor.
    """
    if selector is None:
        return _default(output, model)
    chosen: object
    if callable(selector):
        chosen = selector(output)
    elif isinstance(selector, str):
        found = output.get(selector) if isinstance(output, Mapping) else None
        chosen = found if found is not None else getattr(output, selector, None)
    elif isinstance(selector, int) and not isinstance(selector, bool) and isinstance(output, (tuple, list)):
        chosen = output[selector] if -len(output) <= selector < len(output) else None
    else:
        chosen = None
    if not isinstance(chosen, torch.Tensor):
        raise RetinaCodecError(
            f"output={selector!r} picks {'nothing' if chosen is None else 'a ' + type(chosen).__name__} from the "
            f"{_kind(output)} that {model} returns; expected a selector that picks a tensor (an attribute or key "
            "name, an index into a tuple, or a function)"
        )
    return chosen


def layer_tensor(output: object) -> tuple[int | None, torch.Tensor | None]:
    """The tensor a layer outputs: the output itself (position None), or the first tensor of a
    tuple or list and its position; (None, None) when there is none."""
    if isinstance(output, torch.Tensor):
        return None, output
    if isinstance(output, (tuple, list)):
        position = _first_tensor(list(output))
        if position is not None:
            return position, output[position]
    return None, None


def with_layer_tensor(output: object, position: int | None, tensor: torch.Tensor) -> Any:
    """``output`` with the tensor at ``position`` (None: the whole output) replaced by ``tensor``."""
    if position is None:
        return tensor
    assert isinstance(output, (tuple, list))  # layer_tensor found a tensor at position
    replaced = list(output)
    replaced[position] = tensor
    if isinstance(output, list):
        return replaced
    return type(output)(*replaced) if hasattr(output, "_fields") else tuple(replaced)  # a namedtuple
