"""retinacodec: causal interpretation of neural networks by contribution decomposition (CODEC).

The functions ``contributions`` and ``irf`` live in ``retinacodec.attribution.ig`` and
``retinacodec.receptive_fields.instantaneous``: a module named like a function would shadow it.

Submodules and the main entry points are imported lazily, so ``import retinacodec`` is cheap and
the command line starts fast; ``retinacodec.contributions`` and friends load on first use.
"""

from __future__ import annotations

from ._lazy import lazy_getattr
from .errors import RetinaCodecError

__version__ = "0.1.0"

_SUBMODULES = {
    "stimuli",
    "io",
    "models",
    "targets",
    "metrics",
    "modes",
    "plots",
    "control",
    "parallel",
    "hypotheses",
    "pipelines",
    "attribution",
    "receptive_fields",
}
_ATTRIBUTES = {
    "contributions": "retinacodec.attribution.ig",
    "SAE": "retinacodec.modes.sae",
    "Modes": "retinacodec.modes.result",
    "irf": "retinacodec.receptive_fields.instantaneous",
    "run_imagenet": "retinacodec.pipelines.imagenet.layers.run",
    "AttributionOptions": "retinacodec.attribution.options",
}

__all__ = ["RetinaCodecError", "__version__", *sorted(_SUBMODULES), *sorted(_ATTRIBUTES)]

__getattr__ = lazy_getattr(__name__, _ATTRIBUTES, _SUBMODULES)
