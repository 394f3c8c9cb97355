"""CODEC's ImageNet analyses through the adapter: image sources and preprocessing
(:mod:`~retinacodec.imagenet.images`), default layers (:mod:`~retinacodec.imagenet.layers`), the
per-layer pipeline :func:`run_imagenet` (:mod:`~retinacodec.imagenet.analysis`), figures and the
report."""
from __future__ import annotations


def __getattr__(name: str):
    if name == "run_imagenet":  # torch and the modes stack load on first use
        from .analysis import run_imagenet

        return run_imagenet
    raise AttributeError(f"module 'retinacodec.imagenet' has no attribute {name!r}")


__all__ = ["run_imagenet"]
