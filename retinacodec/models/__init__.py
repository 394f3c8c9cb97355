"""Models: the virtual retina (ground truth), the retina CNN, training, loading, adapters and
openretina models.

Names load lazily (torch is imported on first use).
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_ATTRIBUTES = {
    "VirtualRetina": "retinacodec.models.virtual_retina",
    "RetinaCNN": "retinacodec.models.retina_cnn",
    "LNModel": "retinacodec.models.ln",
    "load": "retinacodec.models.registry",
    "predict": "retinacodec.models.registry",
    "windows": "retinacodec.models.registry",
    "from_openretina": "retinacodec.models.openretina",
    "OpenRetinaModel": "retinacodec.models.openretina",
    "adapt": "retinacodec.models.adapter",
    "AdaptedModel": "retinacodec.models.adapter",
    "InterventionPoint": "retinacodec.models.adapter",
    "load_classifier": "retinacodec.models.zoo",
    "open_classifier": "retinacodec.models.zoo",
    "Classifier": "retinacodec.models.classifier",
    "Preprocessing": "retinacodec.models.preprocessing",
    "TrainingSettings": "retinacodec.models.training",
    "train_model": "retinacodec.models.training",
    "train_from_recipe": "retinacodec.models.training",
    "evaluate_on_virtual_retina": "retinacodec.models.training",
    "train_recording": "retinacodec.models.training",
    "train_nwb": "retinacodec.models.training",
}

__all__ = sorted(_ATTRIBUTES)

__getattr__ = lazy_getattr(__name__, _ATTRIBUTES)
