"""Validation of scalar parameters at the package's boundary, in the manner of scikit-learn's
``check_scalar``.

Each check returns the value converted to its plain Python type, or raises
:class:`~retinacodec.errors.RetinaCodecError` naming the parameter, the value given (numpy scalars
shown as plain numbers) and what was expected. Booleans are never accepted as numbers.
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import RetinaCodecError


def shown(value) -> str:
    """``repr`` of a value for an error message, numpy scalars as their plain Python value.

    ``np.int64(9)`` reads ``9`` and ``np.str_('a')`` reads ``'a'``, as a user typed them.
    """
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_input_file(path: str | os.PathLike, what: str, expected: str) -> Path:
    """The path of an input file that exists, as a :class:`~pathlib.Path`.

    Parameters
    ----------
    path : str or os.PathLike
        The file a user named.
    what : str
        What the file is, for the message (``"netCDF file"``).
    expected : str
        What was expected there (``"an existing .nc file"``).

    Raises
    ------
    RetinaCodecError
        When nothing is there (``... not found``) or a folder is.
    """
    path = Path(path)
    if path.is_dir():
        raise RetinaCodecError(f"{what} {path} is a folder; expected {expected}")
    if not path.is_file():
        raise RetinaCodecError(f"{what} not found: {path} (expected {expected})")
    return path


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is a whole number >= ``minimum``.

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Candidate value; booleans and non-integral floats are refused.
    minimum : int
        Smallest accepted value.

    Returns
    -------
    int
        The value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise RetinaCodecError(f"{name} is {shown(value)} ({type(value).__name__}); expected an integer >= {minimum}")
    if value < minimum:
        raise RetinaCodecError(f"{name} is {value}; expected an integer >= {minimum}")
    return int(value)


def check_number(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strictly_above: float | None = None,
    strictly_below: float | None = None,
) -> float:
    """Return ``value`` as a finite ``float`` within the given bounds.

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Candidate value (an int or float; booleans are refused).
    minimum, maximum : float, optional
        Inclusive bounds.
    strictly_above, strictly_below : float, optional
        Exclusive bounds.

    Returns
    -------
    float
        The value.
    """
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if strictly_above is not None:
        bounds.append(f"> {strictly_above:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    if strictly_below is not None:
        bounds.append(f"< {strictly_below:g}")
    expected = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RetinaCodecError(f"{name} is {shown(value)} ({type(value).__name__}); expected {expected}")
    value = float(value)
    if (
        not math.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (strictly_above is not None and value <= strictly_above)
        or (strictly_below is not None and value >= strictly_below)
    ):
        raise RetinaCodecError(f"{name} is {value:g}; expected {expected}")
    return value


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``.

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Candidate value.
    choices : sequence of str
        Accepted values.

    Returns
    -------
    str
        The value.
    """
    if not isinstance(value, str) or value not in choices:
        raise RetinaCodecError(f"{name} is {shown(value)}; expected one of: {', '.join(choices)}")
    return value


def available_memory() -> int | None:
    """Bytes of memory the machine can give a new array (available, else physical), or None if unknown."""
    try:
        psutil = importlib.import_module("psutil")  # optional: not a dependency
        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return int(os.sysconf(pages)) * int(os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            continue
    return None


def _bytes_shown(n_bytes: int) -> str:
    """A byte count in the largest binary unit that keeps it >= 1 (``"7.5 GiB"``)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    value, unit = float(n_bytes), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.3g} {units[unit]}"


def check_allocation(n_elements: int, itemsize: int, what: str) -> int:
    """Refuse an array that cannot fit in memory, before it is allocated.

    Parameters
    ----------
    n_elements : int
        Number of elements of the array.
    itemsize : int
        Bytes per element (4 for float32).
    what : str
        What the array holds, for the message (``"white_noise frames (n_frames=..., size=...)"``).

    Returns
    -------
    int
        The bytes the array needs.

    Raises
    ------
    RetinaCodecError
        If the array needs more than the memory available (physical memory when the available
        amount is unknown); nothing is checked when neither is known.
    """
    needed = int(n_elements) * int(itemsize)
    available = available_memory()
    if available is not None and needed > available:
        raise RetinaCodecError(
            f"{what} would need {_bytes_shown(needed)} of memory; expected at most the "
            f"{_bytes_shown(available)} available"
        )
    return needed
