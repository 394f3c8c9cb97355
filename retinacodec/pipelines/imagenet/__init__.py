"""CODEC's ImageNet analyses through the adapter: image sources, WordNet-id labels and preprocessing
(:mod:`~retinacodec.pipelines.imagenet.images`), default layers
(:mod:`~retinacodec.pipelines.imagenet.layers`), top-1 predictions
(:mod:`~retinacodec.pipelines.imagenet.predictions`), the control analysis with modes fitted on one
image set and control measured on held-out images (:func:`run_control`: settings, steps, run,
control_report), and the per-layer pipeline :func:`run_imagenet`
(:mod:`~retinacodec.pipelines.imagenet.analysis`), figures and its report."""
from __future__ import annotations

from ..._lazy import lazy_getattr

__all__ = ["run_control", "run_imagenet"]
__getattr__ = lazy_getattr(__name__, {"run_imagenet": "retinacodec.pipelines.imagenet.analysis",
                                      "run_control": "retinacodec.pipelines.imagenet.run"})  # torch loads on first use
