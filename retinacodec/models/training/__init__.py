"""Training retina models: settings, data, the loop, recipes, recordings and evaluation.

Names load lazily (torch is imported on first use).
"""

from __future__ import annotations

from ..._lazy import lazy_getattr

_ATTRIBUTES = {
    "TrainingSettings": "retinacodec.models.training.settings",
    "train_model": "retinacodec.models.training.loop",
    "LAST_CHECKPOINT_NAME": "retinacodec.models.training.loop",
    "train_from_recipe": "retinacodec.models.training.recipe",
    "RecipeResult": "retinacodec.models.training.recipe",
    "evaluate_on_virtual_retina": "retinacodec.models.training.evaluate",
    "fit_table": "retinacodec.models.training.evaluate",
    "evaluate_recording": "retinacodec.models.training.evaluate",
    "train_ln": "retinacodec.models.training.baseline",
    "train_recording": "retinacodec.models.training.recording",
    "train_nwb": "retinacodec.models.training.recording",
    "RecordingResult": "retinacodec.models.training.recording",
    "HeldOut": "retinacodec.models.training.recording",
    "recording_settings": "retinacodec.models.training.recording",
}

__all__ = sorted(_ATTRIBUTES)

__getattr__ = lazy_getattr(__name__, _ATTRIBUTES)
