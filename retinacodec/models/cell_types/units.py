"""A recording's units with their cell types: functional types, overridden by recorded and user labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import xarray as xr

from .classify import filter_frames, functional_types
from .labels import read_labels, resolve_cell_types


@dataclass(frozen=True)
class TypeLabels:
    """Labels that take precedence over the functional types.

    Parameters
    ----------
    column : str, optional
        Units-table column holding labels (default: ``cell_type`` when the table has it).
    labels : mapping of int to str, optional
        The user's labels by unit id; they win over the column.
    """

    column: str | None = None
    labels: Mapping[int, str] | None = None

    @classmethod
    def from_file(cls, path, column: str | None = None) -> TypeLabels:
        """Labels read from a ``unit_id,label`` CSV (:func:`read_labels`), with an optional column."""
        return cls(column, None if path is None else read_labels(path))

    def to_dict(self) -> dict:
        """The labels as a plain mapping (for a run's fingerprint)."""
        return {"column": self.column, "labels": {str(k): v for k, v in sorted((self.labels or {}).items())}}


def type_units(stimulus: xr.DataArray, spikes: xr.DataArray, labels: TypeLabels | None = None) -> xr.Dataset:
    """Each unit's cell type and its evidence.

    Parameters
    ----------
    stimulus : xarray.DataArray
        (time, y, x) contrast with ``frame_rate_hz``.
    spikes : xarray.DataArray
        (time, cell) counts, the units table's columns as coords.
    labels : TypeLabels, optional
        A label column and user labels, which take precedence.

    Returns
    -------
    xarray.Dataset
        :func:`~retinacodec.models.cell_types.classify.functional_types` with ``cell_type`` the
        label that applies, ``source`` where it came from and ``functional_type`` the typing's own
        label; a recording shorter than two filter lengths is not typed (``functional_type``
        "unknown").
    """
    labels = labels or TypeLabels()
    short = stimulus.sizes["time"] < 2 * filter_frames(float(stimulus.attrs.get("frame_rate_hz", 1.0)))
    functional = None if short else functional_types(stimulus, spikes)
    resolved = resolve_cell_types(spikes, functional, column=labels.column, labels=labels.labels)
    if functional is None:
        return resolved.assign(functional_type=("cell", ["unknown"] * spikes.sizes["cell"]))
    return functional.rename(cell_type="functional_type").assign(
        cell_type=resolved["cell_type"], source=resolved["source"]
    )
