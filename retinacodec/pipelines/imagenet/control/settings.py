"""Settings of the ImageNet control analysis: layers, quadrature, SAE, fractions, sizes per condition."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...._validation import check_int
from ....control.hooks import ABLATIONS
from ....errors import RetinaCodecError
from ..common.settings import json_ready

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
    ablation: str = "zero"
    """What a silenced channel becomes: ``"zero"`` (warns at a layer where zero is not a channel's
    resting state), or ``"mean"``, its mean over the fit images at every position."""
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
        if self.ablation not in ABLATIONS:
            raise RetinaCodecError(f"ablation {self.ablation!r}; expected one of {', '.join(ABLATIONS)}")
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
