"""retinacodec: causal interpretation of neural networks by contribution decomposition (CODEC).

The functions ``contributions`` and ``irf`` live in ``retinacodec.attribution`` and
``retinacodec.receptive_fields``: a subpackage named like a function would shadow it.

Submodules and the main entry points are imported lazily, so ``import retinacodec`` is cheap and
the command line starts fast; ``retinacodec.contributions`` and friends load on first use.
"""
from __future__ import annotations

import importlib

from .errors import RetinaCodecError

__version__ = "0.1.0"

_SUBMODULES = {
    "stimuli", "io", "models", "targets", "metrics", "modes", "plots", "control", "parallel",
    "hypotheses", "imagenet",
}
_ATTRIBUTES = {
    # public name: (module, attribute)
    "contributions": ("retinacodec.attribution.ig", "contributions"),
    "SAE": ("retinacodec.modes.sae", "SAE"),
    "irf": ("retinacodec.receptive_fields", "irf"),
    "run_imagenet": ("retinacodec.imagenet.analysis", "run_imagenet"),
}

__all__ = ["RetinaCodecError", "__version__", *sorted(_SUBMODULES), *sorted(_ATTRIBUTES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"retinacodec.{name}")
    if name in _ATTRIBUTES:
        module, attribute = _ATTRIBUTES[name]
        loaded = importlib.import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    raise AttributeError(f"module 'retinacodec' has no attribute {name!r}")
