"""Targets: each reduces the output to one scalar per row, checked against hand indexing."""

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec.errors import RetinaCodecError
from retinacodec.targets import (
    SESSION_KEYWORD,
    CallableTarget,
    Cell,
    CellType,
    ClassLogit,
    ClassPerInput,
    TopLogit,
    as_target,
    as_targets,
    forward_kwargs,
    parse_target,
    resolve_cells,
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


@pytest.mark.parametrize("given", [2, np.int64(2), torch.tensor(2), np.array(2)])
def test_an_int_is_one_class_for_every_input(given):
    (target,) = as_targets(given)
    assert isinstance(target, ClassLogit) and target.k == 2


@pytest.mark.parametrize("given", [[1, 0], (1, 0), torch.tensor([1, 0]), np.array([1, 0], dtype=np.int32)])
def test_ints_in_a_list_or_tensor_are_one_class_per_input(given):
    (target,) = as_targets(given)
    assert isinstance(target, ClassPerInput) and target.classes.tolist() == [1, 0]
    reducer = target.bind(nn.Identity(), OUTPUT)
    rows, index = torch.stack([OUTPUT[0], OUTPUT[1], OUTPUT[1]]), torch.tensor([0, 1, 1])
    assert reducer(rows, index).tolist() == [OUTPUT[0, 1].item(), OUTPUT[1, 0].item(), OUTPUT[1, 0].item()]


def test_per_input_classes_follow_their_inputs_through_chunks():
    target = ClassPerInput([3, 1, 2])
    chunk = target.for_inputs(torch.tensor([2, 0]), 3)
    assert isinstance(chunk, ClassPerInput) and chunk.classes.tolist() == [2, 3]
    with pytest.raises(RetinaCodecError, match=r"3 class indices for 4 inputs; expected one per input, as in Captum"):
        target.for_inputs(torch.arange(4), 4)
    with pytest.raises(RetinaCodecError, match="3 class indices for 2 inputs"):
        target.bind(nn.Identity(), OUTPUT)
    with pytest.raises(RetinaCodecError, match=r"class index 7 is out of range; expected an integer in 0\.\.3"):
        ClassPerInput([0, 7]).bind(nn.Identity(), OUTPUT)


def test_strings_keep_meaning_every_target_on_every_input_and_mixing_is_refused():
    assert [str(t) for t in as_targets(["class:3", "class:5"])] == ["class:3", "class:5"]
    with pytest.raises(RetinaCodecError, match="mixes class indices and other targets"):
        as_targets([3, "class:5"])
    for bad in ([1.5, 2.0], torch.tensor([0.5, 1.0]), torch.zeros(2, 2, dtype=torch.long), np.array(["a"])):
        with pytest.raises(RetinaCodecError, match="class indices"):
            as_target(bad)


TIMED = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (N, time, cells)


@pytest.mark.parametrize(
    "time, expected",
    [("last", TIMED[:, -1, 1]), (0, TIMED[:, 0, 1]), (-2, TIMED[:, 1, 1]), ("mean", TIMED[:, :, 1].mean(1))],
)
def test_a_cell_reads_one_time_bin_or_a_reduction_over_time(time, expected):
    assert torch.equal(Cell(1, time=time).bind(nn.Identity(), TIMED)(TIMED, torch.arange(2)), expected)


def test_a_cell_type_reads_time_like_a_cell():
    reducer = CellType("ON", time="sum").bind(Retina(), TIMED)
    assert torch.equal(reducer(TIMED, torch.arange(2)), TIMED[:, :, 0].sum(1) + TIMED[:, :, 2].sum(1))


@pytest.mark.parametrize(
    "target, output, message",
    [
        (Cell(0, time="mean"), OUTPUT, r"\(N, time, cells\) for time='mean'; got \(2, 4\)"),
        (Cell(0, time=3), TIMED, r"time bin 3 of target cell:0 \(time=3\) is out of range; expected -3\.\.2"),
        (Cell(4), TIMED, r"cell index 4 is out of range"),
        (ClassLogit(0), TIMED, r"for an output \(N, time, cells\), Cell\(i, time=\.\.\.\)"),
    ],
)
def test_time_bins_are_checked_against_the_output(target, output, message):
    with pytest.raises(RetinaCodecError, match=message):
        target.bind(nn.Identity(), output)
    with pytest.raises(RetinaCodecError, match="expected a time bin"):
        Cell(0, time="median")


def test_a_session_goes_to_the_forward_pass_and_one_call_takes_one_session():
    assert SESSION_KEYWORD == "data_key"
    assert Cell(0, session="s2").forward_kwargs == {"data_key": "s2"} and TopLogit().forward_kwargs == {}
    assert str(Cell(0, time="mean", session="s2")) == "cell:0 (time=mean, session=s2)"
    assert str(CellType("ON", session="s1")) == "type:ON (session=s1)"
    assert forward_kwargs([Cell(0, session="s2"), CellType("ON", session="s2")]) == {"data_key": "s2"}
    with pytest.raises(RetinaCodecError, match="targets of one session per call"):
        forward_kwargs([Cell(0, session="s1"), Cell(1, session="s2")])


def test_resolve_cells_counts_the_cells_of_an_output_with_a_time_axis():
    assert resolve_cells(None, nn.Identity(), TIMED) == [0, 1, 2, 3]
    with pytest.raises(RetinaCodecError, match=r"expected cell indices in 0\.\.3"):
        resolve_cells([], nn.Identity(), TIMED)
