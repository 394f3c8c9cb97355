"""Per-layer verdicts of a control run on the paper's claim, by rules fixed before any run was read.

The claim (CODEC, Fig. 6): the channels of a class's contribution mode control the class more
specifically than those of its activation mode. Ablating them costs the target class more,
relative to another class, so the reference's score (AUC_target - AUC_off) / AUC_off is lower;
preserving them keeps the target class more, so the score is higher. A layer's result is read
only where its intervention point is sound: random channels, ablating the fewest or preserving the
most, cost the target's accuracy no more than
:data:`~retinacodec.control.curves.classifier.SANITY_TOLERANCE` of the original (the sanity check
of both protocols).
"""

from __future__ import annotations

import math

from ....control.curves.classifier import SANITY_TOLERANCE

CLAIMED_SIGN = {"ablate": -1, "preserve": 1}
"""Sign of the contribution-minus-activation score difference that the claim predicts."""
REPRODUCES, REVERSED, UNRESOLVED, UNDEFINED = "reproduces", "reversed", "not resolved", "undefined"


def verdict(interval: list[float | None], sign: int) -> str:
    """``reproduces`` when the 95 % interval ``[value, low, high]`` lies on the claimed ``sign`` of 0,
    ``reversed`` when it lies on the other, ``not resolved`` when it holds 0, ``undefined`` when a
    bound is missing."""
    bounds = interval[1:]
    if any(b is None or not math.isfinite(b) for b in bounds):
        return UNDEFINED
    signed = [sign * float(b) for b in bounds]  # type: ignore[arg-type]
    if min(signed) > 0:
        return REPRODUCES
    if max(signed) < 0:
        return REVERSED
    return UNRESOLVED


def sound(ratios: list[float | None]) -> bool:
    """Whether every random-channel accuracy ratio (perturbed / original) is at least
    ``1 - SANITY_TOLERANCE``."""
    return all(r is not None and float(r) >= 1.0 - SANITY_TOLERANCE for r in ratios)


def codec_verdicts(record: dict) -> dict[str, dict]:
    """Per layer of a ``codec``-protocol summary: ``sound`` (random ablate-smallest and
    preserve-largest target ratios), and per intervention the verdict of the contribution-minus-
    activation score difference (``vs_activation``) and of the contribution score against the
    random channels' (``vs_random``)."""
    result = {}
    for layer in record["layers"]:
        entry = record["per_layer"][layer]
        sanity = entry["sanity_random"]
        result[layer] = {
            "sound": sound([sanity["ablate_smallest"], sanity["preserve_largest"]]),
            **{
                intervention: {
                    "vs_activation": verdict(entry["score_gap"][intervention], sign),
                    "vs_random": verdict(entry["score_vs_random"][intervention]["contribution"], sign),
                }
                for intervention, sign in CLAIMED_SIGN.items()
            },
        }
    return result


def retinacodec_verdicts(record: dict) -> dict[str, dict]:
    """Per layer of a ``retinacodec``-protocol summary: ``sound`` (its own sanity check) and per
    intervention the verdict of the contribution-minus-activation specificity gap (higher is more
    specific for both interventions) and of the contribution's reference score against the random
    channels'."""
    result = {}
    for layer in record["layers"]:
        entry = record["per_layer"][layer]
        result[layer] = {
            "sound": all(check["passed"] for check in entry["sanity"].values()),
            **{
                intervention: {
                    "vs_activation": verdict(entry["gap_specificity_auc"][intervention], 1),
                    "vs_random": verdict(entry["control"][f"{intervention}_contribution"]["score_vs_random"], sign),
                }
                for intervention, sign in CLAIMED_SIGN.items()
            },
        }
    return result


def verdicts(record: dict) -> dict[str, dict]:
    """The verdicts of a control summary of either protocol (its ``protocol`` key)."""
    return codec_verdicts(record) if record["protocol"] == "codec" else retinacodec_verdicts(record)
