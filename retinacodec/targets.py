"""Targets: which scalar of a model's output a contribution explains.

A target reduces the model output of each sample to one number. :meth:`Target.bind` looks at the
output at the actual inputs once (to check indices and, for :class:`TopLogit`, to fix the class)
and returns a reducer that is then applied at every point of the integration path.
:func:`resolve_cells` checks the cell indices a retina analysis asks for against the model's output.

Class targets read an output (N, classes). Cell targets read an output (N, cells), or one with a
time axis (N, time, cells), at one time bin or reduced over time; a cell target of one recording
session of a multi-session model passes that session to the model's forward pass
(:data:`SESSION_KEYWORD`). Captum's spellings work too: an int is one class for every input, and a
tensor or list of ints is one class per input (:class:`ClassPerInput`).
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

TIME_REDUCTIONS = ("last", "mean", "sum")
"""How a cell target reads an output (N, time, cells) besides one time bin: the last bin, or the
mean or sum over time."""
SESSION_KEYWORD = "data_key"
"""The keyword argument that carries a cell target's session to the model's forward pass (the one
openretina's multi-session models take)."""


def _output_width(output: torch.Tensor, what: str) -> int:
    if output.ndim != 2:
        timed = " (for an output (N, time, cells), Cell(i, time=...))" if output.ndim == 3 else ""
        raise RetinaCodecError(
            f"target {what} needs a model output of shape (N, n_outputs){timed}; got {tuple(output.shape)}"
        )
    return output.shape[1]


def _check_time(time: int | str) -> int | str:
    if (isinstance(time, int) and not isinstance(time, bool)) or time in TIME_REDUCTIONS:
        return time
    raise RetinaCodecError(f"time is {time!r}; expected a time bin (int) or one of {', '.join(TIME_REDUCTIONS)}")


def _cell_width(output: torch.Tensor, time: int | str, what: str) -> int:
    """The number of cells of an output (N, cells), or (N, time, cells) with ``time`` a valid bin."""
    if output.ndim == 2 and time == "last":
        return output.shape[1]
    if output.ndim != 3:
        timed = f" for time={time!r}" if output.ndim == 2 else ""
        raise RetinaCodecError(
            f"target {what} needs a model output of shape (N, cells) or (N, time, cells){timed}; "
            f"got {tuple(output.shape)}"
        )
    if isinstance(time, int) and not -output.shape[1] <= time < output.shape[1]:
        raise RetinaCodecError(
            f"time bin {time} of target {what} is out of range; expected -{output.shape[1]}..{output.shape[1] - 1} "
            f"(the output has {output.shape[1]} time bins)"
        )
    return output.shape[2]


def read_time(rows: torch.Tensor, time: int | str) -> torch.Tensor:
    """Rows (rows, cells) of output rows (rows, time, cells) at one time bin (an index, or
    ``"last"``) or reduced over time (``"mean"``, ``"sum"``); no branch on the tensor, so
    ``torch.fx`` traces it."""
    if time == "mean":
        return rows.mean(dim=1)
    if time == "sum":
        return rows.sum(dim=1)
    return rows[:, -1 if time == "last" else int(time)]


def _cell_rows(rows: torch.Tensor, time: int | str) -> torch.Tensor:
    """Rows (rows, cells) read out of output rows (rows, cells) or (rows, time, cells)."""
    return rows if rows.ndim == 2 else read_time(rows, time)


def _gather(classes: torch.Tensor) -> Reducer:
    """The logit of class ``classes[input]`` in every row of an input."""
    return lambda rows, index: rows.gather(1, classes[index].unsqueeze(1)).squeeze(1)


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

    @property
    def forward_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the model's forward pass needs for this target (its session)."""
        return {}

    def for_inputs(self, index: torch.Tensor, n_inputs: int) -> Target:
        """The target for the inputs ``index`` (shape (rows,)) out of ``n_inputs``: itself, unless
        it differs per input."""
        return self

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
        return _gather(output.detach().argmax(dim=1))

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


class ClassPerInput(Target):
    """One class logit per input, as Captum reads a tensor ``target``: input ``n`` explains the
    logit of class ``classes[n]`` (0-based).

    Parameters
    ----------
    classes : sequence of int or torch.Tensor
        Class indices, shape (N,), one per input, in the order of the inputs.
    """

    def __init__(self, classes: Sequence[int] | torch.Tensor | np.ndarray):
        given = classes.detach().cpu() if isinstance(classes, torch.Tensor) else classes
        try:
            values = torch.as_tensor(given if isinstance(given, torch.Tensor) else np.asarray(given))
        except (TypeError, ValueError, RuntimeError):
            raise RetinaCodecError(
                f"per-input classes are {type(classes).__name__} of non-numbers; expected integer class indices (N,)"
            ) from None
        if values.ndim != 1 or values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            raise RetinaCodecError(
                f"per-input classes have shape {tuple(values.shape)} and dtype {values.dtype}; expected integer "
                "class indices, one per input (N,)"
            )
        self.classes = values.long()

    def for_inputs(self, index: torch.Tensor, n_inputs: int) -> Target:
        if len(self.classes) != n_inputs:
            raise RetinaCodecError(
                f"target gives {len(self.classes)} class indices for {n_inputs} inputs; expected one per input, "
                "as in Captum (for several classes on every input, a list of strings such as ['class:3', 'class:5'])"
            )
        return ClassPerInput(self.classes[index.cpu()])

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        width = _output_width(output, str(self))
        _refuse_cells(model, output, self)
        if len(self.classes) != output.shape[0]:
            raise RetinaCodecError(
                f"target gives {len(self.classes)} class indices for {output.shape[0]} inputs; expected one per input"
            )
        for k in self.classes.tolist():
            _check_index(k, width, "class", "classes")
        return _gather(self.classes.to(output.device))

    def __str__(self) -> str:
        return "class per input"


class _CellTarget(Target):
    """What cell targets share: the time bin they read and the session they belong to."""

    def __init__(self, time: int | str, session: str | None):
        self.time = _check_time(time)
        self.session = session

    @property
    def forward_kwargs(self) -> dict[str, Any]:
        return {} if self.session is None else {SESSION_KEYWORD: self.session}

    def _reading(self) -> str:
        """The non-default time and session, for the target's name."""
        parts = [f"time={self.time}"] * (self.time != "last") + [f"session={self.session}"] * (self.session is not None)
        return f" ({', '.join(parts)})" if parts else ""


class Cell(_CellTarget):
    """The rate of ganglion cell ``i`` (0-based), in spikes/s, at each time point of the stimulus.

    Parameters
    ----------
    i : int
        Cell index (0-based), along the last axis of the output.
    time : int or {"last", "mean", "sum"}
        For an output (N, time, cells): the time bin to read (an index, negative from the end), or
        the last bin, or the mean or sum over time. An output (N, cells) takes only ``"last"``.
    session : str, optional
        The recording session of a multi-session model, passed to its forward pass as
        :data:`SESSION_KEYWORD` (every target of one call must name the same session).
    """

    def __init__(self, i: int, time: int | str = "last", session: str | None = None):
        super().__init__(time, session)
        self.i = i

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        i = _check_index(self.i, _cell_width(output, self.time, str(self)), "cell", "cells")
        time = self.time
        return lambda rows, index: _cell_rows(rows, time)[:, i]

    def __str__(self) -> str:
        return f"cell:{self.i}" + self._reading()


class CellType(_CellTarget):
    """The summed rate of all cells of one type, read from the model's ``cell_type`` list.

    ``time`` and ``session`` are as for :class:`Cell`.
    """

    def __init__(self, name: str, time: int | str = "last", session: str | None = None):
        super().__init__(time, session)
        self.name = name

    def bind(self, model: nn.Module, output: torch.Tensor) -> Reducer:
        n_cells = _cell_width(output, self.time, str(self))
        types = getattr(model, "cell_type", None)
        if types is None or len(types) != n_cells:
            raise RetinaCodecError(
                f"target {self} needs a model with a cell_type list of {n_cells} entries; "
                f"{type(model).__name__} has {'none' if types is None else len(types)}"
            )
        cells = [i for i, kind in enumerate(types) if kind == self.name]
        if not cells:
            raise RetinaCodecError(f"unknown cell type {self.name!r}; expected one of {', '.join(sorted(set(types)))}")
        selected, time = torch.tensor(cells, device=output.device), self.time
        return lambda rows, index: _cell_rows(rows, time).index_select(1, selected).sum(dim=1)

    def __str__(self) -> str:
        return f"type:{self.name}" + self._reading()


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


TargetLike = Target | str | int | torch.Tensor | np.ndarray | Callable[[torch.Tensor], torch.Tensor]
"""What :func:`as_target` turns into a :class:`Target`: a Target, its text spelling, a class index
(an int: the same class for every input), class indices one per input (a 1-d tensor or array), or a
function mapping the output to one scalar per sample."""


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


def _is_index(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_target(target: TargetLike | Sequence[int]) -> Target:
    """Turn a target as users write it into a :class:`Target`.

    Parameters
    ----------
    target : Target, str, int, sequence of int, torch.Tensor, numpy.ndarray or callable
        A Target; its text spelling (:func:`parse_target`); an int, the logit of that class for
        every input; class indices one per input, as Captum reads them (a 1-d tensor, array or
        list of ints, :class:`ClassPerInput`; a 0-d tensor is one class); or a function mapping
        the output to one scalar per sample.

    Returns
    -------
    Target

    Raises
    ------
    RetinaCodecError
        For anything else.
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        return parse_target(target)
    if _is_index(target):
        return ClassLogit(int(cast(int, target)))
    if isinstance(target, (torch.Tensor, np.ndarray)):
        one = target.ndim == 0 and _is_index(target.tolist())
        return ClassLogit(int(target.item())) if one else ClassPerInput(target)
    if isinstance(target, (list, tuple)) and target and all(_is_index(t) for t in target):
        return ClassPerInput([int(t) for t in target])
    if callable(target):
        return CallableTarget(target)
    raise RetinaCodecError(
        f"target is a {type(target).__name__}; expected a Target, a string such as 'cell:0', a class index, "
        "class indices one per input, or a function mapping the output to one scalar per sample"
    )


def as_targets(target: TargetLike | Sequence[TargetLike]) -> list[Target]:
    """Like :func:`as_target`, for one target or a list of them (a non-empty list).

    A list of ints is one class per input (Captum's meaning, :class:`ClassPerInput`); a list of
    other targets (``["class:3", "class:5"]``) is every one of them on every input.
    """
    if isinstance(target, (list, tuple)):
        if not target:
            raise RetinaCodecError("the list of targets is empty; expected at least one target")
        indices = [_is_index(t) for t in target]
        if all(indices):
            return [as_target(target)]
        if any(indices):
            raise RetinaCodecError(
                f"target list {list(target)!r} mixes class indices and other targets; expected ints only (one "
                "class per input) or targets only (each on every input, e.g. ['class:3', 'class:5'])"
            )
        return [as_target(t) for t in target]
    return [as_target(cast(TargetLike, target))]  # another sequence is refused by as_target


def forward_kwargs(targets: Sequence[Target]) -> dict[str, Any]:
    """The keyword arguments of the forward pass that every target of one call needs (its session).

    Raises
    ------
    RetinaCodecError
        If the targets need different ones (cells of different sessions).
    """
    needed = [t.forward_kwargs for t in targets]
    if any(kwargs != needed[0] for kwargs in needed):
        raise RetinaCodecError(
            f"targets {', '.join(map(str, targets))} need different forward arguments (sessions); expected "
            "targets of one session per call"
        )
    return needed[0]


def resolve_cells(cells: int | Sequence[int] | None, model: nn.Module, output: torch.Tensor) -> list[int]:
    """Cell indices asked for, checked against the model output (N, n_cells).

    Parameters
    ----------
    cells : int, sequence of int or None
        Cell indices; None for every cell.
    model : torch.nn.Module
        The retina model.
    output : torch.Tensor
        Its output for some input, (N, n_cells) or (N, time, n_cells).

    Returns
    -------
    list of int

    Raises
    ------
    RetinaCodecError
        For an empty list or an index that is not a cell of the model.
    """
    n_cells = _cell_width(output, "last", "cell")
    if cells is None:
        return list(range(n_cells))
    listed: list[Any] = [cells] if np.ndim(cells) == 0 else list(np.asarray(cells, dtype=object).ravel())
    if not listed:
        raise RetinaCodecError(f"no cells asked for; expected cell indices in 0..{n_cells - 1}")
    listed = [int(c) if isinstance(c, np.integer) else c for c in listed]
    for cell in listed:  # Cell.bind refuses anything but an int cell index
        Cell(cell).bind(model, output)
    return listed
