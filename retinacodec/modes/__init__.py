"""Modes: sparse decomposition of contributions (the SAE), one type for a set of modes however it
was made (``Modes``), and contribution-vs-activation statistics.

``SAE``, ``Modes`` and ``fit_modes`` load torch, so they are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_ATTRIBUTES = {
    "SAE": "retinacodec.modes.sae",
    "Modes": "retinacodec.modes.result",
    "fit_modes": "retinacodec.modes.workflow",
    "stability": "retinacodec.modes.seed_stability",
    "fit_stability": "retinacodec.modes.seed_stability",
    "hoyer": "retinacodec.modes.compare",
    "near_zero_fraction": "retinacodec.modes.compare",
    "dimensions_for_variance": "retinacodec.modes.compare",
    "sparsity": "retinacodec.modes.compare",
    "pca_dimensions": "retinacodec.modes.compare",
    "mode_labels": "retinacodec.modes.compare",
    "mode_label_comparison": "retinacodec.modes.compare",
    "channel_sign_correlation": "retinacodec.modes.compare",
    "sign_correlation": "retinacodec.modes.compare",
}

__all__ = sorted(_ATTRIBUTES)

__getattr__ = lazy_getattr(__name__, _ATTRIBUTES)
