"""Lazy package attributes: a package names what it offers, and the module behind a name (often
one that imports torch or pynwb) loads only when the name is first used."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any


def lazy_getattr(package: str, attributes: Mapping[str, str], submodules: Collection[str] = ()) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` (PEP 562).

    Parameters
    ----------
    package : str
        The package's dotted name, e.g. ``"retinacodec.models"``.
    attributes : mapping of str to str
        Public name -> dotted name of the module that defines an object of that name.
    submodules : collection of str
        Names of the package's submodules that load as attributes.

    Returns
    -------
    callable
        ``__getattr__(name)``: the object, imported on first use; an ``AttributeError`` for any
        other name.
    """

    def __getattr__(name: str) -> Any:
        if name in attributes:
            return getattr(importlib.import_module(attributes[name]), name)
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
