"""The verdict rules on the paper's claim, on hand-made records whose answers are known."""

from __future__ import annotations

import pytest

from retinacodec.pipelines.imagenet.control.verdicts import (
    REPRODUCES,
    REVERSED,
    UNDEFINED,
    UNRESOLVED,
    codec_verdicts,
    retinacodec_verdicts,
    sound,
    verdict,
)


@pytest.mark.parametrize(
    ("interval", "sign", "expected"),
    [
        ([-0.3, -0.5, -0.1], -1, REPRODUCES),
        ([-0.3, -0.5, -0.1], 1, REVERSED),
        ([0.2, 0.1, 0.4], 1, REPRODUCES),
        ([0.0, -0.1, 0.1], 1, UNRESOLVED),
        ([0.1, 0.0, 0.2], 1, UNRESOLVED),  # an interval touching 0 does not exclude it
        ([None, None, None], 1, UNDEFINED),
        ([0.1, float("nan"), 0.2], -1, UNDEFINED),
    ],
)
def test_verdict_reads_the_interval_on_the_claimed_side(interval, sign, expected):
    assert verdict(interval, sign) == expected


def test_sound_needs_every_random_ratio_within_the_sanity_tolerance():
    assert sound([0.97, 1.2]) and not sound([0.94, 1.0]) and not sound([None, 1.0])


def _codec_layer(gap_ablate, gap_preserve, ratios=(1.0, 0.99)):
    return {
        "sanity_random": {"ablate_smallest": ratios[0], "preserve_largest": ratios[1]},
        "score_gap": {"ablate": gap_ablate, "preserve": gap_preserve},
        "score_vs_random": {"ablate": {"contribution": gap_ablate}, "preserve": {"contribution": gap_preserve}},
    }


def test_codec_verdicts_per_layer():
    record = {
        "layers": ["a", "b"],
        "per_layer": {
            "a": _codec_layer([-0.2, -0.3, -0.1], [0.3, 0.1, 0.5]),
            "b": _codec_layer([0.2, 0.1, 0.3], [0.0, -0.1, 0.1], ratios=(0.5, 1.0)),
        },
    }
    found = codec_verdicts(record)
    assert found["a"] == {
        "sound": True,
        "ablate": {"vs_activation": REPRODUCES, "vs_random": REPRODUCES},
        "preserve": {"vs_activation": REPRODUCES, "vs_random": REPRODUCES},
    }
    assert not found["b"]["sound"] and found["b"]["ablate"]["vs_activation"] == REVERSED
    assert found["b"]["preserve"]["vs_activation"] == UNRESOLVED


def test_retinacodec_verdicts_read_the_specificity_gap_as_higher_is_better():
    control = {f"{i}_contribution": {"score_vs_random": [0.0, -1.0, 1.0]} for i in ("ablate", "preserve")}
    record = {
        "layers": ["a"],
        "per_layer": {
            "a": {
                "sanity": {"ablate": {"passed": True}, "preserve": {"passed": False}},
                "gap_specificity_auc": {"ablate": [0.1, 0.05, 0.2], "preserve": [-0.1, -0.2, -0.05]},
                "control": control,
            }
        },
    }
    found = retinacodec_verdicts(record)["a"]
    assert not found["sound"]
    assert found["ablate"]["vs_activation"] == REPRODUCES and found["preserve"]["vs_activation"] == REVERSED
    assert found["ablate"]["vs_random"] == UNRESOLVED
