"""Network control: silence a layer's channels, or keep some alone, and measure what changes.

- :mod:`.hooks`: the hooks that silence channels (:func:`ablate`, :func:`preserve`).
- :mod:`.experiments`: one control experiment (:func:`classifier_control`, :func:`retina_control`).
- :mod:`.recorded`: the recorded-layer fast path (record a layer once, rerun only what follows it),
  with :class:`~.recorded.PassCache` to share passes between the calls of one analysis.
- :mod:`.curves`: control curves over channel counts or fractions.

Names load lazily (torch is imported on first use).
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_ATTRIBUTES = {
    "ABLATIONS": "retinacodec.control.hooks",
    "ablate": "retinacodec.control.hooks",
    "preserve": "retinacodec.control.hooks",
    "classifier_control": "retinacodec.control.experiments",
    "retina_control": "retinacodec.control.experiments",
    "INTERVENTIONS": "retinacodec.control.experiments",
    "CURVE_INTERVENTIONS": "retinacodec.control.experiments",
    "PassCache": "retinacodec.control.recorded",
    "classifier_control_curves": "retinacodec.control.curves",
    "retina_control_curves": "retinacodec.control.curves",
    "CurveSettings": "retinacodec.control.curves",
    "target_rankings": "retinacodec.control.curves",
    "channel_masks": "retinacodec.control.curves",
    "n_top": "retinacodec.control.curves",
}

__all__ = sorted(_ATTRIBUTES)

__getattr__ = lazy_getattr(__name__, _ATTRIBUTES, {"hooks", "experiments", "recorded", "curves"})
