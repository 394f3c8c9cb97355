"""Targets: which scalar of a model's output a contribution explains.

A target reduces the model output of each sample to one number. :meth:`Target.bind` looks at the
output at the actual inputs once (to check indices and, for :class:`TopLogit`, to fix the class)
and returns a reducer that is then applied at every point of the integration path.
:func:`resolve_cells` checks the cell indices a retina analysis asks for against the model's output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .errors import RetinaCodecError

Reducer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``reducer(output_rows, input_index) -> (rows,)``: the target at each row of a batch, where
``input_index[r]`` is the index of the actual input that row ``r`` belongs to."""


def _output_width(output: torch.Tensor, what: str) -> int:
    if output.ndim != 2:
        raise RetinaCodecError(f"target {what} needs a model output of shape (N, n_outputs); got {tuple(output.shape)}")
    return output.shape[1]


def _check_index(index: int, size: int, what: str, unit: str) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise RetinaCodecError(
            f"{what} index {index!r} is out of range; expected an integer in 0..{size - 1} "
            f"(the model has {size} {unit})"
        )
    return index


def _refuse_cells(model: nn.Module, output: torch.Tensor, target: object) -> None:
    """Refuse a class target on a model whose outputs are cells (it has a ``cell_type`` list)."""
    types = getattr(model, "cell_type", None)
    if types is not None:
        raise RetinaCodecError(
            f"target {target} reads a class logit, but the outputs of {type(model).__name__} are "
            f"{output.shape[-1]} cells (types {', '.join(sorted(set(map(str, types))))}); expected "
            "'cell:I' or 'type:NAME'"
        )


class Target(ABC):
    """A scalar read out of the model output, one per sample."""

    @abstractmethod
    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        """Check the target against ``model`` and its ``output`` at the actual inputs.

        Parameters
        ----------
        model : torch.nn.Module
            The network (some targets read attributes such as ``cell_type``).
        output : torch.Tensor
            Model output at the actual inputs, shape (N, ...).

        Returns
        -------
        Reducer
            ``reducer(output_rows, input_index) -> (rows,)``.

        Raises
        ------
        RetinaCodecError
            If an index is out of range or the model lacks what the target needs.
        """


class TopLogit(Target):
    """The largest logit at the actual input; its class is held fixed along the whole path."""

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        _output_width(output, str(self))
        _refuse_cells(model, output, self)
        classes = output.detach().argmax(dim=1)
        return lambda rows, index: rows.gather(1, classes[index].unsqueeze(1)).squeeze(1)

    def __str__(self) -> str:
        return "top"


class ClassLogit(Target):
    """The logit of class ``k`` (0-based)."""

    def __init__(self, k: int):
        self.k = k

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        width = _output_width(output, str(self))
        _refuse_cells(model, output, self)
        k = _check_index(self.k, width, "class", "classes")
        return lambda rows, index: rows[:, k]

    def __str__(self) -> str:
        return f"class:{self.k}"


class Cell(Target):
    """The rate of ganglion cell ``i`` (0-based), in spikes/s, at each time point of the stimulus."""

    def __init__(self, i: int):
        self.i = i

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        i = _check_index(self.i, _output_width(output, str(self)), "cell", "cells")
        return lambda rows, index: rows[:, i]

    def __str__(self) -> str:
        return f"cell:{self.i}"


class CellType(Target):
    """The summed rate of all cells of one type, read from the model's ``cell_type`` list."""

    def __init__(self, name: str):
        self.name = name

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        n_cells = _output_width(output, str(self))
        types = getattr(model, "cell_type", None)
        if types is None or len(types) != n_cells:
            raise RetinaCodecError(
                f"target {self} needs a model with a cell_type list of {n_cells} entries; "
                f"{type(model).__name__} has {'none' if types is None else len(types)}"
            )
        cells = [i for i, kind in enumerate(types) if kind == self.name]
        if not cells:
            raise RetinaCodecError(f"unknown cell type {self.name!r}; expected one of {', '.join(sorted(set(types)))}")
        selected = torch.tensor(cells, device=output.device)
        return lambda rows, index: rows.index_select(1, selected).sum(dim=1)

    def __str__(self) -> str:
        return f"type:{self.name}"


class CallableTarget(Target):
    """Any function of the output rows returning one scalar per row (shape (rows,))."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]):
        self.function = function

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        def reducer(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            value = self.function(rows)
            if not isinstance(value, torch.Tensor) or value.shape != (rows.shape[0],):
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise RetinaCodecError(
                    f"target function {self} returned {shape}; expected a tensor of shape "
                    f"({rows.shape[0]},): one scalar per row of the output"
                )
            return value

        reducer(output, torch.arange(output.shape[0], device=output.device))
        return reducer

    def __str__(self) -> str:
        return f"callable:{getattr(self.function, '__name__', type(self.function).__name__)}"


TargetLike = Target | str | Callable[[torch.Tensor], torch.Tensor]
"""What :func:`as_target` turns into a :class:`Target`: a Target, its text spelling, or a function
mapping the output to one scalar per sample."""


def parse_target(text: str) -> Target:
    """Read a target from its command-line spelling.

    Parameters
    ----------
    text : str
        ``"top"``, ``"class:K"``, ``"cell:I"`` or ``"type:NAME"`` (K, I 0-based integers).

    Returns
    -------
    Target

    Raises
    ------
    RetinaCodecError
        If the text matches none of these forms.
    """
    kind, _, value = text.partition(":")
    if text == "top":
        return TopLogit()
    if kind in ("class", "cell") and value.lstrip("-").isascii() and value.lstrip("-").isdigit():
        return ClassLogit(int(value)) if kind == "class" else Cell(int(value))
    if kind == "type" and value:
        return CellType(value)
    raise RetinaCodecError(f"cannot read target {text!r}; expected 'top', 'class:K', 'cell:I' or 'type:NAME'")


def as_target(target: TargetLike) -> Target:
    """Turn a :class:`Target`, its text spelling, or a function (output -> (N,)) into a Target."""
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        return parse_target(target)
    if callable(target):
        return CallableTarget(target)
    raise RetinaCodecError(
        f"target is a {type(target).__name__}; expected a Target, a string such as 'cell:0', or a "
        "function mapping the output to one scalar per sample"
    )


def as_targets(target: TargetLike | Sequence[TargetLike]) -> list[Target]:
    """Like :func:`as_target`, for one target or a list of them (a non-empty list)."""
    if isinstance(target, (list, tuple)):
        if not target:
            raise RetinaCodecError("the list of targets is empty; expected at least one target")
        return [as_target(t) for t in target]
    return [as_target(cast(TargetLike, target))]  # another sequence is refused by as_target


def resolve_cells(cells: int | Sequence[int] | None, model: nn.Module, output: torch.Tensor) -> list[int]:
    """Cell indices asked for, checked against the model output (N, n_cells).

    Parameters
    ----------
    cells : int, sequence of int or None
        Cell indices; None for every cell.
    model : torch.nn.Module
        The retina model.
    output : torch.Tensor
        Its output for some input, (N, n_cells).

    Returns
    -------
    list of int

    Raises
    ------
    RetinaCodecError
        For an empty list or an index that is not a cell of the model.
    """
    if cells is None:
        return list(range(output.shape[1]))
    listed: list[Any] = [cells] if np.ndim(cells) == 0 else list(np.asarray(cells, dtype=object).ravel())
    if not listed:
        raise RetinaCodecError(f"no cells asked for; expected cell indices in 0..{output.shape[1] - 1}")
    listed = [int(c) if isinstance(c, np.integer) else c for c in listed]
    for cell in listed:  # Cell.bind refuses anything but an int cell index
        Cell(cell).bind(model, output)
    return listed
