"""Validation of generator parameters and the provenance attrs every generator records.

Each check returns the value converted to its plain Python type, or raises
:class:`~retinacodec.errors.RetinaCodecError` naming the parameter, the value given and what was
expected. Generators call them first thing, so a bad recipe value fails before any work is done.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from ..errors import RetinaCodecError


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
        raise RetinaCodecError(
            f"{name} is {value!r} ({type(value).__name__}); expected an integer >= {minimum}"
        )
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
        raise RetinaCodecError(f"{name} is {value!r} ({type(value).__name__}); expected {expected}")
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
        raise RetinaCodecError(f"{name} is {value!r}; expected one of: {', '.join(choices)}")
    return value


def check_contrast(value, *, signed: bool = False) -> float:
    """Return a contrast amplitude: in [0, 1], or in [-1, 1] when ``signed``.

    Parameters
    ----------
    value : object
        Candidate contrast (Weber contrast relative to the mean luminance).
    signed : bool
        Whether a negative (dark) contrast is meaningful for this generator.

    Returns
    -------
    float
        The contrast.
    """
    return check_number("contrast", value, minimum=-1.0 if signed else 0.0, maximum=1.0)


def check_frame_grid(n_frames, size, frame_rate_hz) -> tuple[int, int, float]:
    """Check the three parameters every generator shares.

    Parameters
    ----------
    n_frames : object
        Number of frames, an integer >= 1.
    size : object
        Frame height and width in pixels, an integer >= 1.
    frame_rate_hz : object
        Frames per second, a positive number.

    Returns
    -------
    tuple of (int, int, float)
        ``(n_frames, size, frame_rate_hz)``.
    """
    return (
        check_int("n_frames", n_frames),
        check_int("size", size),
        check_number("frame_rate_hz", frame_rate_hz, strictly_above=0.0),
    )


def check_seed(seed) -> int:
    """Return ``seed`` if it is a non-negative integer (the seed of ``numpy.random.default_rng``)."""
    return check_int("seed", seed, minimum=0)


def provenance(**parameters) -> dict:
    """Attrs recording a generator's parameters and the package version.

    Parameters
    ----------
    **parameters
        The generator's parameters after validation (numbers, strings or sequences of them).

    Returns
    -------
    dict
        ``parameters`` with sequences turned into lists (netCDF stores them as arrays) plus
        ``retinacodec_version``.
    """
    from .. import __version__

    attrs = {
        key: list(value) if isinstance(value, (tuple, list)) else value
        for key, value in parameters.items()
    }
    attrs["retinacodec_version"] = __version__
    return attrs
