"""CODEC's ImageNet analyses through the adapter: image sources and preprocessing
(:mod:`~retinacodec.pipelines.imagenet.images`), default layers (:mod:`~retinacodec.pipelines.imagenet.layers`), the
per-layer pipeline :func:`run_imagenet` (:mod:`~retinacodec.pipelines.imagenet.analysis`), figures and the
report."""
from __future__ import annotations

from ..._lazy import lazy_getattr

__all__ = ["run_imagenet"]
__getattr__ = lazy_getattr(__name__, {"run_imagenet": "retinacodec.pipelines.imagenet.analysis"})  # torch loads on first use
