"""Which cell-type label each unit carries: the user's, the recording's, or its functional type.

Precedence, per unit: a label the user gives (:func:`read_labels` reads them from a file), then a
column of the NWB units table (``cell_type`` unless another is named), then the functional type
(:func:`~retinacodec.models.cell_types.classify.functional_types`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ...errors import RetinaCodecError

MISSING = ("", "nan", "none", "unknown")
"""Column values read as "no label" (the functional type then applies)."""


def read_labels(path: str | os.PathLike) -> dict[int, str]:
    """Read user labels: one ``unit_id,label`` pair per line (CSV; a header and ``#`` comments
    are skipped).

    Raises
    ------
    RetinaCodecError
        If the file is missing, or a line is not an integer unit id and a label.
    """
    path = Path(path)
    if not path.is_file():
        raise RetinaCodecError(f"cell-type file not found: {path} (expected a CSV of unit_id,label lines)")
    labels: dict[int, str] = {}
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            if not row or row[0].strip().startswith("#"):
                continue
            cells = [item.strip() for item in row]
            if len(cells) != 2 or not cells[1]:
                raise RetinaCodecError(f"line {number} of {path} is {row!r}; expected unit_id,label")
            try:
                labels[int(cells[0])] = cells[1]
            except ValueError:
                if number == 1:
                    continue  # a header
                raise RetinaCodecError(
                    f"line {number} of {path} starts with {cells[0]!r}; expected an integer unit id"
                ) from None
    if not labels:
        raise RetinaCodecError(f"{path} holds no unit_id,label lines; expected one per labelled unit")
    return labels


def _column(spikes: xr.DataArray, column: str | None) -> np.ndarray | None:
    """The recording's label column (str per cell), or None without one."""
    name = column or "cell_type"
    if name not in spikes.coords:
        if column is not None:
            per_cell = sorted(str(c) for c, v in spikes.coords.items() if v.dims == ("cell",) and c != "cell")
            raise RetinaCodecError(f"the recording's units table has no column {column!r}; expected one of {per_cell}")
        return None
    return np.asarray(spikes[name].values).astype(str)


def resolve_cell_types(
    spikes: xr.DataArray,
    functional: xr.Dataset | None = None,
    *,
    column: str | None = None,
    labels: Mapping[int, str] | None = None,
) -> xr.Dataset:
    """Each unit's label and where it came from.

    Parameters
    ----------
    spikes : xarray.DataArray
        (time, cell) counts with the units table's columns as coords along ``cell``.
    functional : xarray.Dataset, optional
        :func:`~retinacodec.models.cell_types.classify.functional_types` of the same units.
    column : str, optional
        Units column holding labels (default ``cell_type``, used when present).
    labels : mapping of int to str, optional
        The user's labels by unit id; they win over everything else.

    Returns
    -------
    xarray.Dataset
        ``cell_type`` and ``source`` ("user", "nwb column <name>", "functional" or "none") along
        ``cell``.

    Raises
    ------
    RetinaCodecError
        If ``column`` is not a units column, or ``labels`` name units the recording lacks.
    """
    ids = [int(c) for c in spikes["cell"].values]
    unknown = sorted(set(labels or {}) - set(ids))
    if unknown:
        raise RetinaCodecError(
            f"cell-type labels name units {unknown} that the recording lacks; expected ids from {ids}"
        )
    recorded = _column(spikes, column)
    name = column or "cell_type"
    types, sources = [], []
    for index, unit in enumerate(ids):
        if labels and unit in labels:
            types.append(str(labels[unit]))
            sources.append("user")
        elif recorded is not None and recorded[index].strip().lower() not in MISSING:
            types.append(recorded[index].strip())
            sources.append(f"nwb column {name}")
        elif functional is not None:
            types.append(str(functional["cell_type"].sel(cell=spikes["cell"].values[index]).values))
            sources.append("functional")
        else:
            types.append("unknown")
            sources.append("none")
    return xr.Dataset(
        {"cell_type": ("cell", np.asarray(types, dtype=str)), "source": ("cell", np.asarray(sources, dtype=str))},
        coords={"cell": spikes["cell"].values},
    )
