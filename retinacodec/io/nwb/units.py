"""Units of an NWB file: selected by their columns or electrode groups, their spikes counted in
the stimulus frames, and their per-unit columns as coords."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence

import numpy as np
from hdmf.common import DynamicTableRegion, VectorIndex

from ...errors import RetinaCodecError

MAX_POSITION_COMPONENTS = 3
"""Widest per-unit vector column kept as a coord (a position in x, y[, z])."""
_STIMULUS_DIMS = {"time", "y", "x", "cell"}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(==|!=|>=|<=|>|<)\s*(.*?)\s*$")
_OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}

UnitFilter = str | Sequence[str] | Mapping[str, object]
"""Units to keep: ``"COLUMN==VALUE"`` (also ``!=``, ``<``, ``<=``, ``>``, ``>=``), several such
conditions that must all hold, or a mapping of column to a value or a list of accepted values."""


def unit_trains(units, label: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit ids and every unit's spike times (s), in table order."""
    if "spike_times" not in units.colnames:
        raise RetinaCodecError(f"units table of {label} has no spike_times column; expected one")
    ids = np.asarray(units.id[:])
    if ids.size == 0:
        raise RetinaCodecError(f"units table of {label} is empty; expected at least one unit")
    index = units["spike_times"]
    all_times = np.asarray(index.target.data[:], dtype=np.float64)
    return ids, np.split(all_times, np.asarray(index.data[:])[:-1])


def select_units(units, keep: UnitFilter | None, groups: str | Sequence[str] | None, label: str) -> np.ndarray:
    """bool (unit,): the units whose columns meet every condition of ``keep`` and whose electrode
    group is one of ``groups`` (names)."""
    mask = np.ones(len(units.id), dtype=bool)
    for column, compare, value, text in _conditions(keep):
        values = column_values(units, column, label)
        mask &= _compare(values, compare, value, text, label)
    if groups is not None:
        wanted = [groups] if isinstance(groups, str) else [str(group) for group in groups]
        names = _electrode_groups(units, label)
        unknown = sorted(set(wanted) - {name for unit in names for name in unit})
        if unknown:
            valid = sorted({name for unit in names for name in unit})
            raise RetinaCodecError(f"no electrode group {unknown} in {label}; expected one of {valid}")
        mask &= np.array([bool(set(unit) & set(wanted)) for unit in names])
    if not mask.any():
        raise RetinaCodecError(
            f"no unit of {label} meets the unit selection (units={keep!r}, electrode_groups={groups!r}); "
            "expected a selection that keeps at least one unit"
        )
    return mask


def column_values(units, name: str, label: str) -> np.ndarray:
    """One value per unit of a column of the units table; electrode groups by name."""
    if name not in units.colnames:
        raise RetinaCodecError(
            f"the units table of {label} has no column {name!r}; expected one of {list(units.colnames)}"
        )
    column = units[name]
    if isinstance(column, (VectorIndex, DynamicTableRegion)):
        raise RetinaCodecError(
            f"column {name!r} of the units table of {label} holds several values or references per unit; "
            "expected a column of one value per unit"
        )
    return _names(np.asarray(column.data[:]))


def _names(values: np.ndarray) -> np.ndarray:
    """Column values with objects as text, and an object with a name (an electrode group) as its name."""
    if values.dtype == object:
        return np.array([getattr(value, "name", value) for value in values]).astype(str)
    return values


def _conditions(keep: UnitFilter | None) -> list[tuple[str, str, object, str]]:
    """(column, operator, value, text) of every condition of a unit filter."""
    if keep is None:
        return []
    if isinstance(keep, Mapping):
        return [(str(column), "in", value, f"{column} in {value!r}") for column, value in keep.items()]
    conditions = []
    for text in [keep] if isinstance(keep, str) else keep:
        match = _CONDITION.match(str(text))
        if match is None:
            raise RetinaCodecError(
                f"unit selection {text!r} is not a condition; expected COLUMN==VALUE (or !=, <, <=, >, >=), "
                "e.g. quality==good"
            )
        column, compare, value = match.groups()
        conditions.append((column, compare, value.strip("'\""), str(text)))
    return conditions


def _compare(values: np.ndarray, compare: str, value, text: str, label: str) -> np.ndarray:
    if compare == "in":
        accepted = value if isinstance(value, (list, tuple, set, np.ndarray)) else [value]
        return np.isin(values, [_typed(values, item, text, label) for item in accepted])
    typed = _typed(values, value, text, label)
    if compare not in ("==", "!=") and not np.issubdtype(values.dtype, np.number):
        raise RetinaCodecError(f"unit selection {text!r} orders text values in {label}; expected == or != for text")
    return np.asarray(_OPERATORS[compare](values, typed), dtype=bool)


def _typed(values: np.ndarray, value, text: str, label: str):
    """``value`` as the type of the column ``values``."""
    if values.dtype == bool:
        if str(value).lower() not in ("true", "false", "1", "0"):
            raise RetinaCodecError(
                f"unit selection {text!r} compares a true/false column of {label}; expected true or false"
            )
        return str(value).lower() in ("true", "1")
    if np.issubdtype(values.dtype, np.number):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise RetinaCodecError(
                f"unit selection {text!r} compares a numeric column of {label} with {value!r}; expected a number"
            ) from None
    return str(value)


def _electrode_groups(units, label: str) -> list[list[str]]:
    """Names of the electrode groups of every unit: its ``electrode_group``, else the groups of
    its ``electrodes``."""
    if "electrode_group" in units.colnames:
        return [[str(name)] for name in column_values(units, "electrode_group", label)]
    if "electrodes" in units.colnames:
        return [[str(getattr(group, "name", group)) for group in rows["group"]] for rows in units["electrodes"][:]]
    raise RetinaCodecError(
        f"the units table of {label} has no electrode_group or electrodes column; expected one to select "
        "units by electrode group"
    )


def spike_counts(
    trains: list[np.ndarray],
    ids: np.ndarray,
    frame_times: np.ndarray,
    rate: float,
    label: str,
    session: tuple[float, float] | None = None,
):
    """int64 (frame, unit) counts of each train in the frame bins: ``numpy.histogram`` on edges
    ``frame_times`` followed by ``frame_times[-1] + 1 / rate``. The spike times are checked
    against the frames' span widened to ``session`` (s; every stimulus of the file), so that a
    session of several stimuli is not taken for spike times in the wrong unit."""
    edges = np.append(frame_times, frame_times[-1] + 1.0 / rate)
    span = (edges[0], edges[-1]) if session is None else (min(edges[0], session[0]), max(edges[-1], session[1]))
    check_spike_times(trains, ids, span, label)
    return np.column_stack([np.histogram(train, bins=edges)[0] for train in trains]).astype(np.int64)


OUTSIDE_SHARE = 0.5
"""Largest share of all spikes outside the stimulus's time span that is read as spikes recorded
before or after the stimulus rather than as spike times in the wrong unit or clock."""


def check_spike_times(trains: list[np.ndarray], ids: np.ndarray, span: tuple[float, float], label: str) -> None:
    """Refuse NaN or infinite spike times, and spike times mostly outside ``span`` (s)."""
    for unit_id, train in zip(ids, trains):
        if not np.isfinite(train).all():
            raise RetinaCodecError(
                f"unit {unit_id} of {label} has {int((~np.isfinite(train)).sum())} NaN or infinite spike "
                "times; expected finite spike times in seconds"
            )
    start, end = span
    pooled = np.concatenate(trains)
    outside = float(np.mean((pooled < start) | (pooled > end))) if pooled.size else 0.0
    if outside <= OUTSIDE_SHARE:
        return
    after = np.mean(pooled > end) >= np.mean(pooled < start)
    shares = [float(np.mean(train > end if after else train < start)) if train.size else 0.0 for train in trains]
    worst = int(np.argmax(shares))
    where = f"after the stimulus ends at {end:g} s" if after else f"before the stimulus starts at {start:g} s"
    in_ms = np.mean((pooled / 1000.0 >= start) & (pooled / 1000.0 <= end)) > OUTSIDE_SHARE
    hint = "spike times in ms?" if in_ms else "spike times on another clock?"
    raise RetinaCodecError(
        f"{100 * shares[worst]:.1f}% of unit {ids[worst]}'s spikes in {label} fall {where} ({100 * outside:.1f}% "
        f"of all spikes lie outside the stimulus); {hint} expected spike times in seconds on the stimulus's clock"
    )


def unit_coords(units, mask: np.ndarray) -> dict[str, tuple]:
    """Per-unit columns of the units table, at the units of ``mask``, as coords along ``cell``.

    Ragged columns (spike times, intervals) and references to other tables are skipped, as are
    vector columns wider than :data:`MAX_POSITION_COMPONENTS`; an electrode group is its name.
    """
    coords: dict[str, tuple] = {}
    for name in units.colnames:
        column = units[name]
        if isinstance(column, (VectorIndex, DynamicTableRegion)):
            continue
        values = _names(np.asarray(column.data[:]))[mask]
        coord_name = f"cell_{name}" if name in _STIMULUS_DIMS else name
        if values.ndim == 1:
            coords[coord_name] = ("cell", values)
        elif values.ndim == 2 and values.shape[1] <= MAX_POSITION_COMPONENTS:
            coords[coord_name] = (("cell", f"{coord_name}_axis"), values)
    return coords
