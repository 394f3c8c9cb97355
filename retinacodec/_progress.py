"""The one progress bar of the package: tqdm, shown on a terminal and quiet off one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, progress: bool = True, **options: Any) -> tqdm:
    """A tqdm bar over ``iterable`` that follows tqdm's own convention for logs.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; omit it for a manual bar (``total=`` and ``update``).
    progress : bool
        False silences the bar everywhere. True shows it on an interactive terminal only: off a
        TTY (CI, ``> log`` files, pipes) tqdm's ``disable=None`` keeps it quiet, so logs do not
        fill with carriage-return frames.
    **options
        Passed to :class:`tqdm.tqdm` (``desc``, ``unit``, ``total``, ``leave``, ...).

    Returns
    -------
    tqdm.tqdm
        The bar, iterable like ``iterable``.
    """
    return tqdm(iterable, disable=None if progress else True, **options)
