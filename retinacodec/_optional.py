"""Optional dependencies: import one, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import RetinaCodecError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency, or raise a one-line error naming the extra that installs it.

    Parameters
    ----------
    module : str
        Dotted name of the module to import, e.g. ``"distributed"``.
    extra : str
        The retinacodec extra that installs it, e.g. ``"dask"``.
    feature : str
        What needs it, in words, e.g. ``"a Dask cluster"``.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    RetinaCodecError
        When the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RetinaCodecError(
            f"{feature} needs the optional package {module.split('.')[0]!r}, which is not installed; "
            f"expected it installed with: pip install 'retinacodec[{extra}]'"
        ) from error
