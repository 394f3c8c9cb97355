"""Model checkpoints: a plain dict saved by torch, written atomically, read without unpickling code.

A checkpoint holds tensors (``state_dict``, optimizer state, RNG states) and metadata in plain
types only (str, int, float, bool, None, lists, dicts), so it loads with
``torch.load(weights_only=True)``: opening a checkpoint never runs code from the file.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .._validation import check_input_file
from ..errors import RetinaCodecError
from .atomic import atomic_destination

CHECKPOINT_FORMAT = "retinacodec-checkpoint"
"""Value of the ``format`` key that marks a retinacodec checkpoint."""
CHECKPOINT_VERSION = 1
"""Layout version of the checkpoint dict."""


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a checkpoint dict atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    payload : dict
        Tensors and plain-typed metadata; ``format`` and ``format_version`` are added.
    path : str or path-like
        Destination file (conventionally ``*.pt``); its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    with atomic_destination(path) as tmp:
        torch.save({**payload, "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or path-like
        Checkpoint file.
    map_location : str or torch.device
        Device the tensors are loaded to.

    Returns
    -------
    dict
        The payload.

    Raises
    ------
    RetinaCodecError
        If the file is missing, unreadable, holds anything but tensors and plain types, or is not
        a retinacodec checkpoint of a known version.
    """
    path = check_input_file(path, "checkpoint", "an existing .pt file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise RetinaCodecError(
            f"cannot read checkpoint {path} ({exc.__class__.__name__}: {str(exc).splitlines()[0]}); "
            f"expected a file written by retinacodec (torch.save of a plain dict)"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RetinaCodecError(f"{path} is not a retinacodec checkpoint (no format={CHECKPOINT_FORMAT!r} key)")
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise RetinaCodecError(
            f"{path} has checkpoint format version {payload.get('format_version')!r}; this retinacodec "
            f"reads version {CHECKPOINT_VERSION}"
        )
    return payload
