"""A run folder's housekeeping: an exclusive lock while a run writes it, and removal of the
temporary files a killed atomic writer (:mod:`retinacodec.io.atomic`) left behind."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RetinaCodecError
from .atomic import is_temporary

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
"""File in a run folder whose exclusive ``flock`` marks the folder as being written; it holds the pid."""
_HELD: dict[str, list[int]] = {}  # real folder path -> [lock file descriptor, holders in this process]


def remove_temporary_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the atomic writer's temporary files in ``folder`` (not in its subfolders).

    Call it only while the folder is locked (:func:`lock_folder`), so no writer is using them.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    folder = Path(folder)
    stale = [p for p in folder.iterdir() if p.is_file() and is_temporary(p)] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def lock_folder(folder: str | os.PathLike, expected: str) -> None:
    """Take the exclusive lock on an existing run folder, or raise at once if another run holds it.

    The lock is an ``flock`` on :data:`LOCK_FILE` in the folder, so it is released when its
    process exits, however it exits (a lock file left by a killed run is stale and taken over).
    Locks of one folder taken in one process are counted, and each needs its
    :func:`unlock_folder`.

    Parameters
    ----------
    folder : str or path-like
        The run folder (it must exist).
    expected : str
        What the user should do instead, for the message (``"another output folder"``).

    Raises
    ------
    RetinaCodecError
        ``"{folder} is being written by another run (pid N); expected {expected}"``.
    """
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key][1] += 1
        return
    if fcntl is None:
        return
    path = Path(folder) / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = _holder(path)
            raise RetinaCodecError(
                f"{folder} is being written by another run (pid {pid}); expected {expected}"
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # a finishing run removed the file we locked: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[key] = [fd, 1]


def unlock_folder(folder: str | os.PathLike) -> None:
    """Release one :func:`lock_folder` of ``folder``; the last one removes :data:`LOCK_FILE`."""
    key = os.path.realpath(folder)
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[key]
        (Path(folder) / LOCK_FILE).unlink(missing_ok=True)
        os.close(held[0])


def _holder(path: Path) -> str:
    """The pid recorded in a lock file, or ``"unknown"``."""
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
