"""CODEC's ImageNet analyses through the adapter: image sources, WordNet-id labels and preprocessing
(:mod:`~retinacodec.pipelines.imagenet.common.images`), default layers
(:mod:`~retinacodec.pipelines.imagenet.common.layers`), top-1 predictions
(:mod:`~retinacodec.pipelines.imagenet.common.predictions`), the layer statistics both analyses share
(:mod:`~retinacodec.pipelines.imagenet.common.statistics`), and two pipelines of the same shape:

- :func:`run_control`, the control analysis with modes fitted on one image set and control
  measured on held-out images (``control/``: settings with :class:`ControlSettings`, steps, run,
  report; the paper's reference protocol in ``codec`` and ``codec_report``, with :class:`CodecSettings`);
- :func:`run_imagenet`, the per-layer analysis of one image set (``layers/``: settings with
  :class:`ImagenetSettings`, steps, run, report, figures).
"""

from __future__ import annotations

from ..._lazy import lazy_getattr

__all__ = ["CodecSettings", "ControlSettings", "ImagenetSettings", "run_control", "run_imagenet"]
__getattr__ = lazy_getattr(
    __name__,
    {
        "run_imagenet": "retinacodec.pipelines.imagenet.layers.run",
        "run_control": "retinacodec.pipelines.imagenet.control.run",
        "CodecSettings": "retinacodec.pipelines.imagenet.control.settings",
        "ControlSettings": "retinacodec.pipelines.imagenet.control.settings",
        "ImagenetSettings": "retinacodec.pipelines.imagenet.layers.settings",
    },
)
