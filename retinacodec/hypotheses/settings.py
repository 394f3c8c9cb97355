"""How hypotheses are made and when a change counts: the settings of
:func:`~retinacodec.hypotheses.generate.generate` and
:func:`~retinacodec.hypotheses.ceiling.pathway_ceiling`, checked in one place."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_number
from ..errors import RetinaCodecError
from .effects import check_criterion
from .match import MATCHES


@dataclass(frozen=True)
class HypothesisSettings:
    """Settings of the hypotheses, validated on construction.

    Raises
    ------
    RetinaCodecError
        For a value out of range or of the wrong type, naming the field and what it expects.
    """

    gain: float = 0.0
    """The intervention: the channels' (and, in the test, the matched pathway's) output is
    multiplied by ``gain``; 0 blocks (named after the drug that does it), 2 doubles. Any factor
    >= 0 other than 1."""
    channel_fraction: float = 0.5
    """A mode's channels are those whose weight
    (:func:`~retinacodec.modes.selection.channel_weights`) is at least this fraction of the mode's
    largest weight, in (0, 1]."""
    max_hypotheses: int = 6
    """Most whole-set hypotheses (distinct interventions) per layer; the inhibitory-output ones
    come beside them."""
    n_shuffles: int = 10
    """Shuffled controls: each permutes the layer's channel labels once and maps every
    hypothesis's channel set through the permutation (same size, other channels); 0 for none."""
    seed: int = 0
    """Seed of the shuffles' permutations (>= 0)."""
    recording_s: float = 60.0
    """Length (s) of the imagined recording of each condition; with ``z_min`` it decides which
    changes count (:func:`~retinacodec.hypotheses.effects.categories`) and sets the confidence."""
    z_min: float = 2.0
    """Poisson standard errors a change must reach to count (>= 0)."""
    match: str = "block"
    """How channel sets are matched to pathways, one of
    :data:`~retinacodec.hypotheses.match.MATCHES`."""
    split: bool = True
    """Split each mode's channel set into the channels matched to each pathway before merging
    (:func:`~retinacodec.hypotheses.candidates.split_by_pathway`); False keeps every set whole."""
    trim: bool = True
    """Trim each (split) set to the subset that follows its pathway most closely
    (:func:`~retinacodec.hypotheses.candidates.trim_to_pathway`); False keeps the sets as split."""
    require_effect: bool = True
    """Keep only the sets whose intervention the CNN predicts to change some cell type's mean rate
    visibly (``recording_s``, ``z_min``), before merging; False keeps sets that change nothing."""
    inhibitory: bool = True
    """With a virtual retina and ``gain`` 0, also hypothesise that a set's inhibitory outputs stand
    for one of the retina's inhibitory pathways, blocked only on the cells the set inhibits."""
    batch_size: int = 250
    """Windows per forward pass."""

    def __post_init__(self) -> None:
        gain = self.gain
        if (
            isinstance(gain, bool)
            or not isinstance(gain, (int, float))
            or not np.isfinite(gain)
            or gain < 0
            or gain == 1
        ):
            raise RetinaCodecError(f"gain is {gain!r}; expected a factor >= 0 other than 1 (0 blocks, 2 doubles)")
        check_criterion(self.recording_s, self.z_min)
        if self.match not in MATCHES:
            raise RetinaCodecError(f"unknown match {self.match!r}; expected one of {', '.join(MATCHES)}")
        checked = {
            "gain": float(gain),
            "channel_fraction": check_number("channel_fraction", self.channel_fraction, strictly_above=0, maximum=1),
            "max_hypotheses": check_int("max_hypotheses", self.max_hypotheses, minimum=1),
            "n_shuffles": check_int("n_shuffles", self.n_shuffles, minimum=0),
            "seed": check_int("seed", self.seed, minimum=0),
            "recording_s": float(self.recording_s),
            "z_min": float(self.z_min),
            "batch_size": check_int("batch_size", self.batch_size, minimum=1),
        }
        for name in ("split", "trim", "require_effect", "inhibitory"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise RetinaCodecError(f"{name} is {value!r}; expected True or False")
            checked[name] = bool(value)
        for name, value in checked.items():
            object.__setattr__(self, name, value)
