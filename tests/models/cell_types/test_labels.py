"""Precedence of user labels and NWB columns over functional types, and the label file."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.models.cell_types import read_labels, resolve_cell_types


def _spikes(**columns) -> xr.DataArray:
    spikes = xr.DataArray(np.zeros((5, 3)), dims=("time", "cell"), coords={"cell": [4, 7, 9]})
    return spikes.assign_coords({name: ("cell", values) for name, values in columns.items()})


FUNCTIONAL = xr.Dataset({"cell_type": ("cell", ["on", "off", "unclassified"])}, coords={"cell": [4, 7, 9]})


def test_functional_types_without_other_labels():
    resolved = resolve_cell_types(_spikes(), FUNCTIONAL)
    assert list(resolved["cell_type"].values) == ["on", "off", "unclassified"]
    assert set(resolved["source"].values) == {"functional"}
    assert list(resolve_cell_types(_spikes())["cell_type"].values) == ["unknown"] * 3


def test_nwb_column_takes_precedence_and_missing_values_fall_back():
    resolved = resolve_cell_types(_spikes(cell_type=["parasol", "", "midget"]), FUNCTIONAL)
    assert list(resolved["cell_type"].values) == ["parasol", "off", "midget"]
    assert list(resolved["source"].values) == ["nwb column cell_type", "functional", "nwb column cell_type"]


def test_a_named_column_and_user_labels_win():
    spikes = _spikes(cell_type=["a", "b", "c"], lab_type=["x", "y", "z"])
    resolved = resolve_cell_types(spikes, FUNCTIONAL, column="lab_type", labels={9: "mine"})
    assert list(resolved["cell_type"].values) == ["x", "y", "mine"]
    assert list(resolved["source"].values) == ["nwb column lab_type", "nwb column lab_type", "user"]


def test_unknown_column_or_units_are_refused():
    with pytest.raises(RetinaCodecError, match="no column 'lab_type'; expected one of"):
        resolve_cell_types(_spikes(cell_type=["a", "b", "c"]), FUNCTIONAL, column="lab_type")
    with pytest.raises(RetinaCodecError, match=r"units \[5\] that the recording lacks"):
        resolve_cell_types(_spikes(), FUNCTIONAL, labels={5: "on"})


def test_label_file(tmp_path):
    path = tmp_path / "types.csv"
    path.write_text("unit,cell_type\n# a comment\n4, on parasol\n9,off\n")
    assert read_labels(path) == {4: "on parasol", 9: "off"}
    path.write_text("4,on\nseven,off\n")
    with pytest.raises(RetinaCodecError, match="line 2 .* expected an integer unit id"):
        read_labels(path)
    path.write_text("4\n")
    with pytest.raises(RetinaCodecError, match="expected unit_id,label"):
        read_labels(path)
    with pytest.raises(RetinaCodecError, match="not found"):
        read_labels(tmp_path / "missing.csv")
    path.write_text("unit,label\n")
    with pytest.raises(RetinaCodecError, match="holds no unit_id,label"):
        read_labels(path)
