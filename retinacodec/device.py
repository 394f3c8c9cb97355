"""Where computations run: device names, temporary evaluation mode, and the machine a run ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
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
        raise RetinaCodecError(f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
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
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Stop gradients from reaching the parameters of ``modules`` for the duration.

    A graph built inside the block treats the parameters as constants (a backward pass through it
    leaves their ``.grad`` alone); each parameter's ``requires_grad`` is restored on exit, also
    after an error.
    """
    flags = [(p, p.requires_grad) for module in modules for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


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


def _cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What a run's floating-point results depend on: the CPU, its vector unit, the libraries.

    Training on a CPU with another vector instruction set (AVX2 against AVX-512, say) or another
    torch version sums in another order; the rounding differs, and a fit that starts the same
    (a sparse autoencoder, say) can end in different modes. Runs record this so that their numbers
    can be traced to the machine that made them.

    Returns
    -------
    dict
        ``cpu`` (model name), ``cpu_capability`` (torch's vector unit, e.g. ``"AVX512"``), ``cpus``
        (logical CPUs), ``threads`` (torch's intra-op threads now), ``torch``, ``numpy`` and
        ``python`` versions.
    """
    return {
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
