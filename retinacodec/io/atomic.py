"""Atomic file writing: write to a temporary file beside the target, then rename it into place."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import RetinaCodecError

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp(?P<suffix>\.[^.]*)?")
"""The names :func:`atomic_destination` gives its temporary files: ``.{name}.XXXXXXXX.tmp{suffix}``."""


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is named like an atomic writer's temporary file: ``.{name}.XXXXXXXX.tmp{suffix}``
    with ``suffix`` the suffix of ``name`` (see :func:`atomic_destination`)."""
    match = _TEMPORARY.fullmatch(path.name)
    return match is not None and (match["suffix"] or "") == Path(match["name"]).suffix


def check_destination(path: str | os.PathLike) -> Path:
    """Refuse a destination that the atomic writer must not replace, before anything is computed.

    Parameters
    ----------
    path : str or path-like
        The file to be written.

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Raises
    ------
    RetinaCodecError
        If ``path`` exists and is not a regular file (a folder, a device, a pipe), or lies under a file.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        raise RetinaCodecError(f"{path} is {kind}; expected the path of a file to write")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise RetinaCodecError(f"cannot write {path}: {blocking} is a file, not a folder; expected a folder path")
    return path


@contextlib.contextmanager
def atomic_destination(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file lives in the target's folder (so the rename is atomic on one file
    system) and keeps the target's suffix (so writers that check suffixes are content). If the
    block raises, the temporary file is removed and any existing file at ``path`` is untouched.
    Only a regular file is ever replaced: a folder, a device or any other kind of entry at
    ``path`` is refused before anything is written.

    Parameters
    ----------
    path : str or path-like
        The final destination; its folder is created if needed.

    Yields
    ------
    pathlib.Path
        The temporary path to write to.

    Raises
    ------
    RetinaCodecError
        If ``path`` exists and is not a regular file, or its folder cannot be made or written.
    """
    path = check_destination(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RetinaCodecError(
            f"cannot write {path}: {reason} ({error.filename or path.parent}); expected a folder you can write"
        ) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; match a plain open()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _toggled_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _toggled_umask()  # read once, at import, before any writer thread exists
_PROC_STATUS = Path("/proc/self/status")


def _current_umask() -> int:
    """The umask now where the OS shows it without changing it (Linux's /proc), else at import.

    Toggling ``os.umask`` to read it would race with files that other threads create meanwhile
    (they would get mode 0666), so it is toggled only once, at import.
    """
    if _PROC_STATUS.is_file():
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return _IMPORT_UMASK
