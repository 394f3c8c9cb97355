"""Where computations run: device names and temporary evaluation mode."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .errors import RetinaCodecError


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn a device name into a :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    torch.device

    Raises
    ------
    RetinaCodecError
        For an unknown name, or CUDA asked for on a machine without it.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise RetinaCodecError(
            f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RetinaCodecError(f"device {device!r} asked for but CUDA is not available; use 'auto' or 'cpu'")
    return resolved


def device_for(module: nn.Module, device: str | torch.device | None = None) -> torch.device:
    """The device a computation with ``module`` runs on: ``device`` when given (see
    :func:`resolve_device`), else where the module's first parameter or buffer is (CPU if none).

    Raises
    ------
    RetinaCodecError
        As :func:`resolve_device`.
    """
    if device is not None:
        return resolve_device(device)
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def evaluating(module: nn.Module, device: torch.device) -> Iterator[torch.dtype]:
    """Put ``module`` in eval mode on ``device`` for the duration; yield its floating dtype.

    The module's training flag and device are restored on exit, also after an error.
    """
    parameters = [p for p in module.parameters() if p.is_floating_point()]
    home = parameters[0].device if parameters else device
    training = module.training
    module.eval().to(device)
    try:
        yield parameters[0].dtype if parameters else torch.get_default_dtype()
    finally:
        module.train(training).to(home)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block on ``count`` torch CPU threads; the previous setting is restored on exit.

    Parameters
    ----------
    count : int or None
        Threads for the duration (``torch.set_num_threads``); None leaves the setting alone.

    Notes
    -----
    torch's thread count is per process: code running at the same time in other Python
    threads sees the setting too.
    """
    before = torch.get_num_threads()
    if count is not None and count != before:
        torch.set_num_threads(int(count))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
