"""Functional cell types from a recording: spike-triggered averages, polarity, transience and
ON-OFF responses, decided by fixed rules (:mod:`.classify`), and the precedence of user and
recorded labels over them (:mod:`.labels`), applied together by :func:`type_units`."""

from __future__ import annotations

from .classify import functional_types, is_full_field
from .labels import read_labels, resolve_cell_types
from .units import TypeLabels, type_units

__all__ = ["TypeLabels", "functional_types", "is_full_field", "read_labels", "resolve_cell_types", "type_units"]
