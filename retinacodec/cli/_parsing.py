"""Parsing of the option values that several subcommands share (cell lists, times), and the
checks of their file paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import check_allocation
from ..errors import RetinaCodecError
from ..io.atomic import check_destination


def parse_ints(text: str, option: str) -> list[int]:
    """The comma-separated integers of a command-line option.

    Raises
    ------
    RetinaCodecError
        If an item is not an integer.
    """
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise RetinaCodecError(f"cannot read {option} {text!r}; expected comma-separated integers like 0,3") from None


def parse_times(text: str, frame_rate_hz: float) -> np.ndarray:
    """Times (s) from comma-separated seconds and ``start:stop[:step]`` ranges.

    Parameters
    ----------
    text : str
        E.g. ``"0.5,1.2"`` or ``"1:2:0.25"``; a range includes ``stop`` and steps by one frame
        unless ``step`` is given.
    frame_rate_hz : float
        The stimulus's frame rate.

    Returns
    -------
    numpy.ndarray
        The times in s, in the order given.

    Raises
    ------
    RetinaCodecError
        For an item that is neither a number nor a range with ``start <= stop`` and ``step > 0``,
        or a range of more times than fit in memory.
    """
    times: list[list[float] | np.ndarray] = []
    for item in text.split(","):
        try:
            bounds = [float(value) for value in item.split(":")]
        except ValueError:
            bounds = []
        if len(bounds) == 2:
            bounds.append(1.0 / frame_rate_hz)
        if len(bounds) == 1:
            times.append(bounds)
        elif len(bounds) == 3 and np.isfinite(bounds).all() and bounds[0] <= bounds[1] and bounds[2] > 0:
            start, stop, step = bounds
            count = int(min(np.floor((stop - start) / step + 1e-9), 2.0**62)) + 1
            check_allocation(count, 8, f"--times range {item!r} ({count} times)")
            times.append(start + step * np.arange(count))
        else:
            raise RetinaCodecError(
                f"cannot read --times item {item!r}; expected seconds (0.5) or a finite range "
                "start:stop[:step] with start <= stop and step > 0, comma-separated"
            )
    return np.concatenate(times)


def check_paths(inputs: list[str | None], outputs: dict[str, str | None]) -> None:
    """Refuse, before any work, an output that is one of the command's inputs or cannot be a file.

    Parameters
    ----------
    inputs : list of str or None
        The files the command reads (None or a name that is not a file is skipped).
    outputs : dict
        Option name (``-o``, ``--plot``, ...) to the file it writes, or None when not given.

    Raises
    ------
    RetinaCodecError
        If an output is an input file, an existing folder, or lies under a file.
    """
    read = [Path(path).resolve() for path in inputs if path is not None and Path(path).is_file()]
    for option, output in outputs.items():
        if output is None:
            continue
        if Path(output).resolve() in read:
            raise RetinaCodecError(f"{option} {output} would overwrite its input; expected another file name")
        try:
            check_destination(output)
        except RetinaCodecError as exc:
            raise RetinaCodecError(f"{option}: {exc}") from None
