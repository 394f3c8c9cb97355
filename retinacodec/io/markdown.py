"""Generated sections of a markdown file (the documentation's results come from runs, never typed by hand).

A generated section sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; its generator (in
``analyses/``) rewrites what lies between the two markers and leaves the rest of the file as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RetinaCodecError
from .atomic import atomic_destination


def section_markers(name: str) -> tuple[str, str]:
    """The begin and end markers of the generated section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_section(path: str | os.PathLike, name: str, body: str) -> Path:
    """Rewrite the generated section ``name`` of the markdown file ``path`` with ``body``, atomically.

    Parameters
    ----------
    path : str or path-like
        The markdown file; it must hold the section's two markers once each, in order.
    name : str
        The section's name, as in its markers.
    body : str
        The section's new markdown (without the markers).

    Returns
    -------
    pathlib.Path
        The file's path.

    Raises
    ------
    RetinaCodecError
        If the file cannot be read or does not hold the markers once each, in order.
    """
    path = Path(path)
    begin, end = section_markers(name)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RetinaCodecError(f"cannot read {path}: {exc.strerror}; expected a markdown file") from None
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise RetinaCodecError(
            f"{path} does not hold the markers {begin} ... {end} once each, in order; "
            "add them where the generated section goes"
        )
    head, rest = text.split(begin)
    tail = rest.split(end)[1]
    with atomic_destination(path) as tmp:
        tmp.write_text(f"{head}{begin}\n{body.strip()}\n{end}{tail}")
    return path
