"""Settings of the per-layer ImageNet analysis of :func:`~retinacodec.pipelines.imagenet.layers.run.run_imagenet`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ...._validation import check_int
from ....attribution.options import PATHS
from ....attribution.quadrature import METHODS
from ....errors import RetinaCodecError
from ..common.settings import json_ready


@dataclass(frozen=True)
class ImagenetSettings:
    """What :func:`retinacodec.pipelines.imagenet.layers.run.run_imagenet` computes, layer by layer.

    Every field is part of the run's fingerprint (a folder holding a run with other settings is
    refused); how the work is spread (workers, threads, device) is not a setting, it never changes
    the numbers beyond float rounding. :meth:`fast` is a tiny variant for tests.
    """

    model: str = "efficientnet_lite0"
    """Zoo classifier (see :data:`retinacodec.models.zoo.MODELS`)."""
    layers: tuple[str, ...] | None = None
    """Layer aliases (``block7``, ``mlp3``, ``heads5`` ...) or dotted module names; None: the
    model's :func:`~retinacodec.pipelines.imagenet.common.layers.default_layers`."""
    class_token: bool = True
    """ViT-B/16: include the class token in the per-head attention layers of the default list."""
    n_augment: int | None = None
    """Random views (crops and flips) per image for the SAE samples; None: enough to reach
    ``min_samples`` samples (0 for large image sets)."""
    min_samples: int = 256
    """Samples aimed at when ``n_augment`` is None."""
    n_steps: int = 10
    """Integrated-Gradients quadrature nodes."""
    path: str = "layer"
    """Integration path of the contributions, ``"layer"`` or ``"input"`` (see :func:`retinacodec.contributions`)."""
    method: str = "gausslegendre"
    """Quadrature rule, one of :data:`retinacodec.attribution.quadrature.METHODS`."""
    sae_epochs: int = 200
    """Most SAE epochs (early stopping may end sooner)."""
    sae_params: dict = field(default_factory=dict)
    """Further :class:`~retinacodec.modes.sae.SAE` parameters (``n_modes``, ``lr``, ``l1`` ...)."""
    control_fraction: float = 0.02
    """Fraction of a layer's channels ablated or preserved (0.02 in the paper)."""
    control_classes: int | tuple[int, ...] = 10
    """Classes of the control experiment: this many drawn (seeded) from the classes present, or the
    given class indices."""
    n_off_target: int = 500
    """Most images of other classes in the control experiment (a seeded pool shared by all
    classes); every image of the control classes is used."""
    n_map_images: int = 4
    """Images (the first ones) of the contribution maps."""
    n_map_modes: int = 4
    """Modes of the contribution maps (largest mean loading on those images)."""
    batch_size: int = 64
    """Network evaluations per batch."""
    chunk_size: int | None = None
    """Views per contributions chunk (the unit of resumption and of distribution); by default the
    size recorded in a layer's folder when resuming, else chosen from the cost per view measured on
    the first views (:func:`retinacodec.parallel.run_chunked`)."""
    seed: int = 0
    """Seed of the random views, of the SAE, of the class and image draws, and of random weights."""

    def __post_init__(self) -> None:
        for name in (
            "n_steps",
            "sae_epochs",
            "batch_size",
            "n_map_images",
            "n_map_modes",
            "n_off_target",
            "min_samples",
        ):
            check_int(name, getattr(self, name))
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size)
        if self.n_augment is not None:
            check_int("n_augment", self.n_augment, minimum=0)
        if self.path not in PATHS:
            raise RetinaCodecError(f"unknown path {self.path!r}; expected one of {', '.join(PATHS)}")
        if self.method not in METHODS:
            raise RetinaCodecError(f"unknown quadrature method {self.method!r}; expected one of {', '.join(METHODS)}")
        if not 0 < self.control_fraction <= 1:
            raise RetinaCodecError(f"control_fraction is {self.control_fraction!r}; expected a fraction in (0, 1]")
        if self.layers is not None and not self.layers:
            raise RetinaCodecError("the list of layers is empty; expected at least one layer")
        if isinstance(self.control_classes, (int, np.integer)) and not isinstance(self.control_classes, bool):
            check_int("control_classes", self.control_classes)

    @classmethod
    def fast(cls, **changes) -> ImagenetSettings:
        """A tiny run for tests: the last block, 2 nodes, 3 SAE epochs, one map of 2 modes."""
        tiny = {
            "layers": ("block16",),
            "n_augment": 1,
            "n_steps": 2,
            "sae_epochs": 3,
            "n_map_images": 1,
            "n_map_modes": 2,
            "batch_size": 16,
            "chunk_size": 6,
        }
        return dataclasses.replace(cls(), **{**tiny, **changes})

    def as_dict(self) -> dict:
        """JSON-typed settings (for the run's fingerprint and report)."""
        record = json_ready(dataclasses.asdict(self))
        if not isinstance(record["control_classes"], int):
            record["control_classes"] = [int(c) for c in np.ravel(record["control_classes"])]
        return record
