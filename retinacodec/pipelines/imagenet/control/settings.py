"""Settings of the ImageNet control analysis: protocol, layers, quadrature, SAE, fractions, sizes per condition."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...._validation import check_int
from ....attribution.quadrature import METHODS
from ....control.curves.reference import N_TRIAL_IMAGES, N_TRIALS, PCTS, REFERENCE_SEED
from ....control.hooks import ABLATIONS
from ....errors import RetinaCodecError
from ..common.settings import json_ready

PROTOCOLS = ("retinacodec", "codec")
"""The control protocols: ``retinacodec`` (this package's: Gauss-Legendre IG, SAE on both signs,
channels by summed magnitude, the best mode, fractions over log-spaced steps, per-class image sets
with bootstrap intervals) and ``codec`` (the paper's reference code, point by point:
:mod:`retinacodec.pipelines.imagenet.control.codec`)."""
IG_METHODS = {"retinacodec": "gausslegendre", "codec": "activation_trapezoid"}
"""Quadrature rule of the input-path Integrated Gradients of each protocol."""

FRACTIONS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 0.99)
"""Fractions of a layer's channels ablated or preserved: log-spaced (doubling) from 1 % to 99 %,
2 % (the paper's table) among them."""


@dataclass(frozen=True)
class CodecSettings:
    """The ``codec`` protocol's own settings; the defaults are the reference code's."""

    mode_rank: int = 1
    """Which mode of a class: its position among the live modes sorted by the Pearson r of their
    codes with the class indicator, largest first; 1 (the second) is what the reference uses
    (``get_top_mode(..., 1)``), 0 the best-correlated one."""
    pcts: tuple[float, ...] = PCTS
    """Percentages of the layer's channels; ``int(C * pct / 100)`` channels each."""
    n_trials: int = N_TRIALS
    """Trials (random target and off-target class) per (layer, percentage)."""
    n_trial_images: int = N_TRIAL_IMAGES
    """Held-out images of each of the two classes per trial."""
    trial_seed: int = REFERENCE_SEED
    """Seed of the draws of classes and images (one stream over layers and percentages)."""
    sae_epochs: int = 300
    """SAE epochs (no early stopping)."""
    sae_threshold: float = 0.8
    """Hard threshold on the SAE's sigmoid codes (0.8 in the reference script, 0.9 in the paper's text)."""

    def __post_init__(self) -> None:
        check_int("mode_rank", self.mode_rank, minimum=0)
        for name in ("n_trials", "n_trial_images", "sae_epochs"):
            check_int(name, getattr(self, name))
        check_int("trial_seed", self.trial_seed, minimum=0)
        if not self.pcts or not all(0 < p <= 100 for p in self.pcts) or len(set(self.pcts)) != len(self.pcts):
            raise RetinaCodecError(f"pcts {self.pcts!r}; expected distinct percentages in (0, 100]")
        if not 0 < self.sae_threshold < 1:
            raise RetinaCodecError(f"sae_threshold {self.sae_threshold!r}; expected a number in (0, 1)")


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
    """Steps of the input-path Integrated Gradients (the reference uses 10): Gauss-Legendre nodes
    (``retinacodec``), or intervals of the trapezoid rule in the layer's activation (``codec``)."""
    ig_method: str | None = None
    """Quadrature rule of those contributions, one of :data:`retinacodec.attribution.quadrature.METHODS`;
    None: the protocol's own (:data:`IG_METHODS`: ``activation_trapezoid``, the reference's, under
    ``codec``). A codec run with another rule names it among its deviations."""
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
    resting state), or ``"mean"``, its mean over the fit images at every position (``retinacodec``
    protocol only: the ``codec`` protocol zeroes, as the reference does)."""
    seed: int = 0
    """Seed of the SAE fits, the image draws, the random selections and the bootstrap."""
    protocol: str = "retinacodec"
    """Which protocol (:data:`PROTOCOLS`): ``"retinacodec"`` (the default) or ``"codec"``, the
    reference code's (its own settings in ``codec``; it uses ``ig_steps``, the sizes of the run and
    ``n_bootstrap`` / ``seed`` of the intervals, and none of the ``retinacodec`` protocol's SAE,
    stability, fraction and per-condition settings)."""
    codec: CodecSettings = CodecSettings()
    """Settings of the ``codec`` protocol."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise RetinaCodecError(f"protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
        if not isinstance(self.codec, CodecSettings):
            raise RetinaCodecError(f"codec is {type(self.codec).__name__}; expected CodecSettings")
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
        if self.ig_method is not None and self.ig_method not in METHODS:
            raise RetinaCodecError(
                f"unknown quadrature method {self.ig_method!r}; expected one of {', '.join(METHODS)}"
            )
        if self.ablation not in ABLATIONS:
            raise RetinaCodecError(f"ablation {self.ablation!r}; expected one of {', '.join(ABLATIONS)}")
        if self.protocol == "codec" and self.ablation != "zero":
            raise RetinaCodecError(
                f"ablation {self.ablation!r} with protocol 'codec', which zeroes channels as the reference does; "
                "expected ablation 'zero', or protocol 'retinacodec' for a mean ablation"
            )
        if not self.fractions or not all(0 < f < 1 for f in self.fractions):
            raise RetinaCodecError(f"fractions {self.fractions!r}; expected fractions in (0, 1)")

    @classmethod
    def fast(cls, **changes) -> ControlSettings:
        """A tiny run for tests: 2 layers, 2 nodes, few epochs, one stability fit, 3 fractions, few
        images per condition; for the ``codec`` protocol 2 trials of 2 images per class."""
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
            codec=CodecSettings(n_trials=2, n_trial_images=2, sae_epochs=3),
        )
        return dataclasses.replace(cls(), **{**tiny, **changes})

    @property
    def ig_rule(self) -> str:
        """Quadrature rule of the Integrated Gradients: ``ig_method``, or the protocol's own
        (:data:`IG_METHODS`)."""
        return self.ig_method or IG_METHODS[self.protocol]

    def as_dict(self) -> dict:
        """JSON-typed settings (for the run's fingerprint and report)."""
        return json_ready(dataclasses.asdict(self))
