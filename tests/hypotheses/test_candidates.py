"""Candidate channel sets: split, trimmed and merged by the pathway they follow, against planted
activity."""

import numpy as np

from retinacodec.hypotheses.candidates import Candidate, merge_by_pathway, split_by_pathway, trim_to_pathway
from retinacodec.hypotheses.match import PathwayMatch


def test_sets_matched_to_the_same_pathway_merge_into_one_hypothesis():
    rng = np.random.default_rng(3)
    pathways = rng.standard_normal((300, 3, 2))
    channels = np.stack([pathways[:, 0], pathways[:, 0] + 0.1 * rng.standard_normal((300, 2)), pathways[:, 2]], axis=1)
    matched = PathwayMatch(channels, pathways, ["p0", "p1", "p2"])
    chosen = [
        Candidate((0,), "first", [4], 0.2),
        Candidate((2,), "second", [5], 0.1),
        Candidate((1,), "third", [6], 0.3),
    ]
    merged = merge_by_pathway(chosen, matched)
    # channel 0 is pathway 0 exactly, channel 1 a noisy copy: channel 0's set stands for it
    assert [(m.pathway, m.channels, m.modes) for m in merged] == [("p0", (0,), [4]), ("p2", (2,), [5])]
    assert merged[0].reason == "first; also matched to it: third (channels 1)" and merged[0].usage == 0.2
    swapped = merge_by_pathway([chosen[2], chosen[0]], matched)
    assert [(m.pathway, m.channels) for m in swapped] == [("p0", (0,))]


def test_a_set_whose_channels_follow_two_pathways_splits_into_one_set_per_pathway():
    rng = np.random.default_rng(6)
    pathways = rng.standard_normal((300, 2, 2))
    channels = np.stack(
        [
            pathways[:, 0],
            pathways[:, 1] + 0.1 * rng.standard_normal((300, 2)),
            pathways[:, 0] + 0.1 * rng.standard_normal((300, 2)),
        ],
        axis=1,
    )
    matched = PathwayMatch(channels, pathways, ["bipolar_off_sustained", "amacrine_narrow"])
    chosen = [
        Candidate((0, 1, 2), "mode most tied to OFF cells", [3], 0.4),
        Candidate((0, 2), "used", [5], 0.1),
        Candidate((1,), "used", [6], 0.2),
    ]
    split = split_by_pathway(chosen, matched)
    assert [(c.channels, c.modes) for c in split] == [((0, 2), [3]), ((1,), [3])]
    assert split[0].reason == "mode most tied to OFF cells, its channels that follow the OFF sustained bipolar"
    assert split[1].reason.endswith("follow the narrow-field amacrine") and split[1].usage == 0.4
    whole = split_by_pathway([Candidate((0, 2), "used", [5], 0.1)], matched)
    assert [(c.channels, c.reason) for c in whole] == [((0, 2), "used")]


def test_a_set_is_trimmed_to_the_channels_that_follow_its_pathway_most_closely():
    """Planted: channels 0 and 2 are noisy copies of pathway 0 (their sum follows it better than
    either), channel 1 follows no pathway."""
    rng = np.random.default_rng(8)
    pathways = rng.standard_normal((2000, 2, 2))
    channels = np.stack(
        [
            pathways[:, 0] + 0.5 * rng.standard_normal((2000, 2)),
            rng.standard_normal((2000, 2)),
            pathways[:, 0] + 0.5 * rng.standard_normal((2000, 2)),
        ],
        axis=1,
    )
    matched = PathwayMatch(channels, pathways, ["bipolar_off_sustained", "amacrine_narrow"])
    chosen = [
        Candidate((0, 1, 2), "mode most tied to OFF cells", [3], 0.4),
        Candidate((0, 2), "used", [5], 0.1),
        Candidate((1, 2), "used", [6], 0.2),
    ]
    trimmed = trim_to_pathway(chosen, matched)
    # (0, 1, 2) loses channel 1 and is then (0, 2), listed once; (1, 2) is channel 2 alone
    assert [(c.channels, c.modes) for c in trimmed] == [((0, 2), [3]), ((2,), [6])]
    assert trimmed[0].reason == (
        "mode most tied to OFF cells, trimmed to the channels that follow the OFF sustained bipolar most closely"
    )
    value = matched.values([(0, 1, 2), (0, 2), (0,), (2,)])[:, 0]
    assert value[1] > value[0] and value[1] > max(value[2], value[3])  # no single removal raises (0, 2)
    assert [(c.channels, c.reason) for c in trim_to_pathway([Candidate((0, 2), "used")], matched)] == [((0, 2), "used")]
