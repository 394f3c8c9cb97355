"""Receptive fields: instantaneous receptive fields (:func:`irf`), their summaries, and
contribution maps; :class:`ModeSelection` picks the modes (and layer) they decompose by.

The function ``irf`` lives in :mod:`.instantaneous` (a module named like it would shadow it).
Names load lazily (torch is imported on first use).
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_ATTRIBUTES = {
    "irf": "retinacodec.receptive_fields.instantaneous",
    "rank1_summary": "retinacodec.receptive_fields.summaries",
    "irf_variability": "retinacodec.receptive_fields.summaries",
    "mode_shares": "retinacodec.receptive_fields.summaries",
    "modes_by_share": "retinacodec.receptive_fields.summaries",
    "resolve_cells": "retinacodec.receptive_fields.instantaneous",
    "contribution_maps": "retinacodec.receptive_fields.maps",
    "ModeSelection": "retinacodec.receptive_fields.selection",
}

__all__ = sorted(_ATTRIBUTES)

__getattr__ = lazy_getattr(__name__, _ATTRIBUTES)
