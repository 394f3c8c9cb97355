"""Functional cell types from a recording: spike-triggered averages, polarity, transience and
ON-OFF responses, decided by fixed rules (:mod:`.classify`), and the precedence of user and
recorded labels over them (:mod:`.labels`)."""

from __future__ import annotations

from .classify import functional_types, is_full_field
from .labels import read_labels, resolve_cell_types

__all__ = ["functional_types", "is_full_field", "read_labels", "resolve_cell_types"]
