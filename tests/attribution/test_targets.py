"""Targets: each reduces the output to one scalar per row, checked against hand indexing."""

import pytest
import torch
from torch import nn

from retinacodec.errors import RetinaCodecError
from retinacodec.targets import (
    CallableTarget,
    Cell,
    CellType,
    ClassLogit,
    TopLogit,
    as_target,
    as_targets,
    parse_target,
)

OUTPUT = torch.tensor([[0.1, 2.0, -1.0, 0.5], [3.0, 0.2, 0.1, 0.0]])


class Retina(nn.Module):
    cell_type = ["ON", "OFF", "ON", "OMS"]


def test_class_and_cell_targets_read_one_column():
    rows, index = OUTPUT.flip(0), torch.tensor([1, 0])
    assert torch.equal(ClassLogit(2).bind(nn.Identity(), OUTPUT)(rows, index), rows[:, 2])
    assert torch.equal(Cell(3).bind(Retina(), OUTPUT)(rows, index), rows[:, 3])


def test_top_logit_fixes_the_class_of_the_actual_input_for_every_row():
    reducer = TopLogit().bind(nn.Identity(), OUTPUT)  # classes 1 and 0 at the actual inputs
    path_rows = torch.tensor(
        [
            [9.0, 1.0, 7.0, 8.0],  # rows of input 0: class 1 although 0 is larger
            [0.0, -5.0, 1.0, 2.0],
            [4.0, 3.0, 2.0, 1.0],
        ]
    )  # a row of input 1: class 0
    assert reducer(path_rows, torch.tensor([0, 0, 1])).tolist() == [1.0, -5.0, 4.0]


def test_cell_type_sums_the_cells_of_that_type():
    reducer = CellType("ON").bind(Retina(), OUTPUT)
    assert torch.allclose(reducer(OUTPUT, torch.arange(2)), OUTPUT[:, 0] + OUTPUT[:, 2])


def test_callable_target_is_applied_to_the_rows():
    reducer = as_target(lambda out: out.pow(2).sum(1)).bind(nn.Identity(), OUTPUT)
    assert torch.allclose(reducer(OUTPUT, torch.arange(2)), (OUTPUT**2).sum(1))


@pytest.mark.parametrize(
    "text, kind, value",
    [("top", TopLogit, None), ("class:7", ClassLogit, 7), ("cell:0", Cell, 0), ("type:OFF", CellType, "OFF")],
)
def test_parse_target_reads_the_cli_forms_and_round_trips(text, kind, value):
    target = parse_target(text)
    assert isinstance(target, kind) and str(target) == text
    if value is not None:
        assert value in vars(target).values()


def test_as_targets_accepts_one_or_a_list():
    assert [str(t) for t in as_targets(["cell:1", Cell(2)])] == ["cell:1", "cell:2"]
    assert isinstance(as_targets(torch.sum)[0], CallableTarget)


@pytest.mark.parametrize(
    "target, model, message",
    [
        (ClassLogit(4), nn.Identity(), r"0\.\.3"),
        (Cell(-1), Retina(), r"0\.\.3"),
        (Cell(99), Retina(), r"out of range.*4 cells"),
        (ClassLogit(3), Retina(), r"outputs of Retina are 4 cells \(types OFF, OMS, ON\); expected 'cell:I'"),
        (TopLogit(), Retina(), "reads a class logit.*4 cells"),
        (CellType("bistratified"), Retina(), "OFF, OMS, ON"),
        (CellType("ON"), nn.Identity(), "cell_type"),
        (CallableTarget(lambda out: out), nn.Identity(), r"shape \(2,\)"),
    ],
)
def test_bad_targets_name_the_valid_range_or_types(target, model, message):
    with pytest.raises(RetinaCodecError, match=message):
        target.bind(model, OUTPUT)


@pytest.mark.parametrize("text", ["best", "class:x", "cell:", "type:", "cell:1.5"])
def test_unreadable_target_text_is_a_retinacodec_error(text):
    with pytest.raises(RetinaCodecError, match="expected 'top'"):
        parse_target(text)


def test_empty_target_list_and_non_targets_are_rejected():
    with pytest.raises(RetinaCodecError, match="empty"):
        as_targets([])
    with pytest.raises(RetinaCodecError, match="expected a Target"):
        as_target(3.0)
    with pytest.raises(RetinaCodecError, match="expected a Target"):
        as_target(True)
