"""Settings of the ImageNet analyses: the control analysis (layers, quadrature, SAE, fractions,
sizes per condition) and the per-layer analysis of :func:`run_imagenet`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ...._validation import check_int
from ....attribution.ig import PATHS
from ....errors import RetinaCodecError

FRACTIONS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 0.99)
"""Fractions of a layer's channels ablated or preserved: log-spaced (doubling) from 1 % to 99 %,
2 % (the paper's table) among them."""


@dataclass(frozen=True)
class ControlSettings:
    """How much work each step of :func:`retinacodec.pipelines.imagenet.control.run.run_control` does.

    The defaults are the full EfficientNet-Lite0 analysis (every fit image, 500 held-out images, 8
    layers); the per-condition sizes (``n_target_images`` .. ``n_random_images``) are what trades
    intervals against time. :meth:`fast` is a tiny variant for tests and smoke runs (numbers are
    then not meaningful).
    """

    model: str = "efficientnet_lite0"
    """Zoo classifier (see :data:`retinacodec.models.zoo.MODELS`)."""
    layers: tuple[str, ...] | None = None
    """Layer aliases; None: 8 blocks spread evenly over the depth (:func:`spread_layers`)."""
    n_layers: int = 8
    """Layers picked when ``layers`` is None."""
    ig_steps: int = 10
    """Gauss-Legendre nodes of the input-path Integrated Gradients (the paper uses 10)."""
    chunk_images: int = 250
    """Fit images per contributions step (the unit of resumption)."""
    ig_batch_size: int = 40
    """Network evaluations (image x node) per IG batch."""
    batch_size: int = 8
    """Images per forward pass (:data:`retinacodec.models.zoo.FORWARD_BATCH_SIZE`)."""
    sae_epochs: int = 100
    """Most SAE epochs per fit (early stopping may end sooner)."""
    stability_fits: int = 2
    """Extra SAE fits (seeds ``seed + 1`` ...) per layer and variable that score the modes' seed
    stability (:func:`retinacodec.modes.workflow.fit_modes`); each costs one more fit, 0 skips them."""
    label_threshold: float = 0.2
    """Mode-class correlation above which a mode counts as class-specific (the paper's 0.2)."""
    fractions: tuple[float, ...] = FRACTIONS
    """Fractions of the layer's channels ablated or preserved."""
    n_target_images: int = 50
    """Held-out images of the target class per (class, selection, fraction) condition (at most)."""
    n_off_target_images: int = 45
    """Held-out images of the other classes per condition (a seeded draw spread over the classes)."""
    n_random_draws: int = 3
    """Random channel selections per fraction (the baseline; shared by all classes)."""
    n_random_images: int = 200
    """Held-out images the random selections are scored on (spread over the classes)."""
    n_bootstrap: int = 1000
    """Bootstrap resamples of the images for the confidence intervals."""
    seed: int = 0
    """Seed of the SAE fits, the image draws, the random selections and the bootstrap."""

    def __post_init__(self) -> None:
        for name in (
            "n_layers",
            "ig_steps",
            "chunk_images",
            "ig_batch_size",
            "batch_size",
            "sae_epochs",
            "n_target_images",
            "n_off_target_images",
            "n_random_draws",
            "n_random_images",
            "n_bootstrap",
        ):
            check_int(name, getattr(self, name))
        check_int("stability_fits", self.stability_fits, minimum=0)
        if not self.fractions or not all(0 < f < 1 for f in self.fractions):
            raise RetinaCodecError(f"fractions {self.fractions!r}; expected fractions in (0, 1)")

    @classmethod
    def fast(cls, **changes) -> ControlSettings:
        """A tiny run for tests: 2 layers, 2 nodes, few epochs, one stability fit, 3 fractions, few
        images per condition."""
        tiny = dict(
            n_layers=2,
            ig_steps=2,
            chunk_images=8,
            sae_epochs=3,
            stability_fits=1,
            fractions=(0.02, 0.16, 0.64),
            n_target_images=3,
            n_off_target_images=3,
            n_random_draws=1,
            n_random_images=6,
            n_bootstrap=50,
        )
        return dataclasses.replace(cls(), **{**tiny, **changes})

    def as_dict(self) -> dict:
        """JSON-typed settings (for the run's fingerprint and report)."""
        return json_ready(dataclasses.asdict(self))


def json_ready(value):
    """Tuples as lists, recursively (what JSON gives back)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


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
    """Quadrature rule."""
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
