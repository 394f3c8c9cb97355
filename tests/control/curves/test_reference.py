"""The reference code's control curves: channel counts, signed ranking, mode choice, seeded trials,
masks against hook-based zeroing, and the ratio AUC score on analytic curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec import RetinaCodecError
from retinacodec.control.curves.classifier import _masked_correct
from retinacodec.control.curves.reference import (
    PCTS,
    distinct_pairs,
    draw_trials,
    ranked_mode,
    ratio_summary,
    reference_control_curves,
    reference_count,
    reference_masks,
    signed_ranking,
    trapezoid_auc,
)
from retinacodec.control.hooks import ablate, preserve
from retinacodec.device import torch_threads
from retinacodec.models.adapter import adapt


def test_channel_count_is_rounded_down():
    assert reference_count(2048, 2) == 40  # the reference's 2 % of a ResNet-50 layer4 block
    assert [reference_count(40, p) for p in PCTS] == [0, 0, 2, 4, 7, 10, 20, 32, 39]
    assert [reference_count(320, p) for p in PCTS] == [3, 6, 16, 32, 57, 80, 160, 256, 316]
    assert reference_count(256, 18) == 46  # 46.08, not rounded to nearest (46) nor up (47)
    assert reference_count(99, 50) == 49  # 49.5 rounds down
    with pytest.raises(RetinaCodecError, match="percentage"):
        reference_count(10, 0)


def test_signed_ranking_is_the_reference_top_n():
    atom = np.array([0.1, -2.0, 3.0, 0.5, -0.2])
    order = signed_ranking(atom)
    np.testing.assert_array_equal(order, [2, 3, 0, 4, 1])  # the large negative entry is last, not second
    for n in range(1, atom.size + 1):  # bscope.ic.semantic_utils.top_n: argsort(v)[-n:][::-1]
        np.testing.assert_array_equal(order[:n], np.argsort(atom)[-n:][::-1])
    with pytest.raises(RetinaCodecError, match="finite"):
        signed_ranking(np.array([1.0, np.nan]))


def test_ranked_mode_skips_dead_modes_and_counts_nan_as_zero():
    r = np.array([0.1, 0.5, np.nan, 0.3, 0.9, -0.4])
    live = np.array([True, True, True, True, False, True])  # the best-correlated mode is dead
    assert ranked_mode(r, live, 0) == 1
    assert ranked_mode(r, live, 1) == 3  # the reference's choice: the second
    assert ranked_mode(r, live, 3) == 2  # NaN sorts as 0, below 0.1
    assert ranked_mode(r, live, 4) == 5
    with pytest.raises(RetinaCodecError, match="5 live modes"):
        ranked_mode(r, live, 5)


def test_masks_with_zero_counts():
    order = np.array([[[2, 0, 1, 3]], [[3, 2, 1, 0]]])  # (pct, trial, channel)
    masks = reference_masks(order, [0, 1])  # (intervention, pct, trial, channel)
    np.testing.assert_array_equal(masks[0, 0, 0], [1, 1, 1, 1])  # ablate 0 channels: nothing zeroed
    np.testing.assert_array_equal(masks[1, 0, 0], [0, 0, 0, 0])  # preserve 0 channels: everything zeroed
    np.testing.assert_array_equal(masks[0, 1, 0], [1, 1, 1, 0])
    np.testing.assert_array_equal(masks[1, 1, 0], [0, 0, 0, 1])


def test_trials_are_seeded_and_follow_the_reference_draw_order():
    labels = np.repeat([3, 7, 9], 12)
    trials = draw_trials(labels, 4, n_trials=5, n_images=10, seed=1992)
    again = draw_trials(labels, 4, n_trials=5, n_images=10, seed=1992)
    other = draw_trials(labels, 4, n_trials=5, n_images=10, seed=1993)
    xr.testing.assert_identical(trials, again)
    assert not np.array_equal(trials["trial_image"].values, other["trial_image"].values)
    classes, images = trials["trial_class"].values, trials["trial_image"].values
    assert (classes[..., 0] != classes[..., 1]).all()
    assert (labels[images] == classes[..., None]).all()  # each image of its class
    assert all(len(set(row)) == 10 for row in images.reshape(-1, 10))  # without replacement
    rng = np.random.RandomState(1992)  # by hand: target, off-target, then the images of each
    target, off = rng.randint(0, 3), rng.randint(0, 2)
    off += off >= target
    assert classes[0, 0].tolist() == [[3, 7, 9][target], [3, 7, 9][off]]
    np.testing.assert_array_equal(images[0, 0, 0], rng.choice(np.flatnonzero(labels == classes[0, 0, 0]), 10, False))
    with pytest.raises(RetinaCodecError, match="at least 2 classes of at least 13"):
        draw_trials(labels, 1, n_images=13)


def test_trapezoid_auc_on_analytic_curves():
    assert trapezoid_auc(PCTS, np.ones(9)) == pytest.approx(98.0)
    assert trapezoid_auc(PCTS, np.array(PCTS) / 100) == pytest.approx((99**2 - 1) / 200)  # exact for a line
    shuffled = [50, 1, 99, 10]
    expected = np.trapezoid([1, 100, 2500, 9801], [1, 10, 50, 99])
    assert trapezoid_auc(shuffled, np.array(shuffled) ** 2) == pytest.approx(expected)


def _curves(accuracy: np.ndarray, original: np.ndarray, pcts) -> xr.Dataset:
    return xr.Dataset(
        {
            "accuracy": (("selection", "intervention", "pct", "trial", "role"), accuracy),
            "original": (("pct", "trial", "role"), original),
            "n_channels": ("pct", np.arange(len(pcts))),
        },
        coords={
            "selection": ["contribution", "activation", "random"],
            "intervention": ["ablate", "preserve"],
            "pct": list(pcts),
            "role": ["target", "off_target"],
        },
    )


def test_score_of_analytic_ratio_curves():
    """Target ratio 1 - pct/100 and off-target 1 everywhere: AUCs 49.0 and 98, score -0.5."""
    pcts = np.array(PCTS, dtype=float)
    accuracy = np.ones((3, 2, 9, 4, 2)) * 0.8
    accuracy[..., 0] = 0.8 * (1 - pcts / 100)[:, None]
    accuracy[2] = 0.8  # random channels: no effect on either class
    original = np.full((9, 4, 2), 0.8)
    summary = ratio_summary(_curves(accuracy, original, PCTS), n_bootstrap=20)
    target = summary["auc"].sel(selection="contribution", intervention="ablate", role="target")
    assert float(target) == pytest.approx(98 - (99**2 - 1) / 200)
    assert float(summary["auc"].sel(selection="contribution", intervention="ablate", role="off_target")) == 98
    expected = (98 - (99**2 - 1) / 200 - 98) / 98
    assert float(summary["score"].sel(selection="activation", intervention="preserve")) == pytest.approx(expected)
    assert float(summary["score"].sel(selection="random", intervention="ablate")) == 0
    vs_random = summary["score_vs_random"].sel(selection="contribution", intervention="ablate")
    assert float(vs_random) == pytest.approx(expected)
    assert float(summary["score_gap"].sel(intervention="ablate")) == 0
    assert float(summary["score_low"].sel(selection="contribution", intervention="ablate")) == pytest.approx(expected)
    assert (summary["ratio_sem"].values == 0).all()


def test_ratio_mean_leaves_out_undefined_trials():
    accuracy = np.zeros((3, 2, 2, 3, 2))
    accuracy[..., 0, :, 0] = [0.5, 0.0, 1.0]  # pct 0, target: three trials
    original = np.ones((2, 3, 2))
    original[0, 1, 0] = 0.0  # the second trial is 0 / 0
    summary = ratio_summary(_curves(accuracy, original, [10, 50]), n_bootstrap=10)
    assert float(summary["ratio_mean"].isel(selection=0, intervention=0, pct=0, role=0)) == pytest.approx(0.75)
    assert int(summary["n_undefined"].sel(pct=10, role="target")) == 1


def test_a_rise_from_zero_accuracy_is_left_out_not_infinite():
    accuracy = np.ones((3, 2, 2, 3, 2))
    accuracy[..., 0, :, 0] = [0.5, 0.3, 1.0]  # the second trial rises from 0 to 0.3
    original = np.ones((2, 3, 2))
    original[0, 1, 0] = 0.0
    summary = ratio_summary(_curves(accuracy, original, [10, 50]), n_bootstrap=50)
    assert float(summary["ratio_mean"].isel(selection=0, intervention=0, pct=0, role=0)) == pytest.approx(0.75)
    for name in ("auc", "score", "score_low", "score_high", "score_gap_low", "score_gap_high"):
        assert np.isfinite(summary[name].values).all(), name


@pytest.fixture
def classifier():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 10, 3),
        nn.ReLU(),
        nn.Conv2d(10, 10, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(10, 3),
    ).eval()


def test_curves_equal_hook_based_zeroing(classifier):
    """Each trial's accuracy (downstream only, many conditions per batch) equals zeroing the
    channels by a forward hook on the trial's images."""
    x = torch.randn(36, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    labels = np.repeat([0, 1, 2], 12)
    pcts = [10, 35, 99]
    trials = draw_trials(labels, 1, n_trials=2, n_images=4).isel(block=0, drop=True)
    trials = xr.concat([trials] * 3, dim="pct").assign_coords(pct=pcts)
    order = np.array(
        [[[np.random.default_rng([s, p, t]).permutation(10) for t in range(2)] for p in range(3)] for s in range(2)]
    )
    dims = ("selection", "pct", "trial", "rank")
    rankings = xr.DataArray(order, dims=dims, coords={"selection": ["a", "b"], "pct": pcts})
    curves = reference_control_curves(
        classifier, x, labels, "2", rankings, trials, batch_size=7, capture_size=5, progress=False
    )
    assert curves["n_channels"].values.tolist() == [1, 3, 9]
    for s in range(2):
        for p, pct in enumerate(pcts):
            for t in range(2):
                chosen = order[s, p, t, : reference_count(10, pct)]
                for role in range(2):
                    images = trials["trial_image"].values[p, t, role]
                    with torch.no_grad():
                        original = (classifier(x[images]).argmax(1).numpy() == labels[images]).mean()
                        for i, hook in enumerate((ablate, preserve)):
                            with hook(classifier, "2", chosen):
                                expected = (classifier(x[images]).argmax(1).numpy() == labels[images]).mean()
                            assert curves["accuracy"].values[s, i, p, t, role] == expected
                    assert curves["original"].values[p, t, role] == original


def test_distinct_pairs_are_each_scored_once_and_map_back():
    order = np.array([[[0, 1, 2], [0, 1, 2]], [[2, 1, 0], [0, 1, 2]]])  # (pct, trial, channel)
    masks = reference_masks(order, [0, 1])  # (intervention, pct, trial, channel)
    chosen = np.array([[[[4, 5]], [[4, 6]]], [[[4, 5]], [[5, 7]]]])  # (pct, trial, role=1, slot)
    distinct, pairs, pair_of = distinct_pairs(masks, chosen)
    # masks: ablate 0 (all kept) twice, ablate [2], ablate [0]; preserve 0 (none kept) twice, [2], [0]
    assert len(distinct) == 6 and len(np.unique(distinct, axis=0)) == 6
    assert len(pairs) == len(np.unique(pairs, axis=0)) == 2 * 3 + 2 * 2 + 2 * 2  # count-0 masks share 4, 5, 6
    every = [(m, i) for m, row in zip(masks.reshape(-1, 3), np.tile(chosen.reshape(4, 2), (2, 1))) for i in row]
    for (mask, image), pair in zip(every, pair_of):
        np.testing.assert_array_equal(distinct[pairs[pair, 0]], mask)
        assert pairs[pair, 1] == image


def _previous_correct(adapted, images, labels, layer, masks, chosen):
    """The implementation before deduplication: every (condition, trial image) pair scored, batches
    of 16 in pair order, without worker threads; (condition..., role, slot) bool."""
    n_masks = int(np.prod(masks.shape[:-1]))
    per_trial = chosen.reshape(chosen.shape[0] * chosen.shape[1], -1)
    trial_of = np.arange(n_masks) % per_trial.shape[0]
    pairs = np.stack([np.repeat(np.arange(n_masks), per_trial.shape[1]), per_trial[trial_of].ravel()], axis=1)
    with torch.no_grad():
        capture = adapted.capture(images[:8], layer)
    keep = torch.as_tensor(masks.reshape(n_masks, -1))
    bar = type("Bar", (), {"update": lambda self, n: None})()
    correct = _masked_correct(adapted, layer, capture, torch.as_tensor(labels), (keep, None), pairs, 16, bar)
    return correct.reshape(*masks.shape[:-1], *chosen.shape[2:])


@pytest.fixture(scope="module")
def lite0_images():
    """EfficientNet-Lite0 (packaged weights) and the 20 foolbox ImageNet images, model-ready."""
    from retinacodec.models.zoo import load_classifier
    from retinacodec.pipelines.imagenet.common.images import center_view, read_image, sample_images
    from retinacodec.pipelines.imagenet.common.layers import layer_aliases
    from retinacodec.pipelines.imagenet.common.predictions import resolve_classifier

    classifier = resolve_classifier("efficientnet_lite0", module=load_classifier("efficientnet_lite0"))
    source = sample_images()
    images = torch.stack([center_view(read_image(p), classifier.preprocessing) for p in source.paths])
    adapted = adapt(classifier.module, layers=layer_aliases("efficientnet_lite0"))
    return adapted, images, np.asarray(source.labels)


@pytest.mark.parametrize("layer", ["block4", "block14_depthwise", "head"])
def test_curves_equal_the_previous_implementation_on_lite0(lite0_images, layer):
    """Same correct / incorrect per (condition, trial image) as scoring every pair in turn, with
    one worker and with two, at a block output, a layer whose downstream part needs its context
    (the block's input) and the head; trials share images and rankings, so pairs repeat."""
    adapted, images, labels = lite0_images
    images, labels = images[:8], labels[:8]
    with torch.no_grad():
        first = adapted.capture(images[:1], layer, stop=True).activation
    n_channels = first.shape[1]
    rng = np.random.default_rng(3)
    pcts = [1, 50]  # 1 % of block4's 40 channels is none: the same mask for every ranking
    chosen = rng.integers(0, 8, size=(2, 3, 2, 2))  # (pct, trial, role, slot): 8 of the 20 images, pairs repeat
    classes = (("pct", "trial", "role"), labels[chosen[..., 0]])
    trials = xr.Dataset({"trial_image": (("pct", "trial", "role", "slot"), chosen), "trial_class": classes})
    trials = trials.assign_coords(pct=pcts)
    per_class = [rng.permutation(n_channels) for _ in range(2)]  # contribution and activation: by class
    shared = [[[per_class[t % 2] for t in range(3)] for _ in pcts]] * 2
    order = np.array([*shared, [[rng.permutation(n_channels) for _ in range(3)] for _ in pcts]])
    rankings = xr.DataArray(order, dims=("selection", "pct", "trial", "rank"), coords={"pct": pcts})
    masks = reference_masks(order, [reference_count(n_channels, p) for p in pcts])
    expected = _previous_correct(adapted, images, labels, layer, masks, chosen)
    assert 0 < expected.mean() < 1  # some trial images right, some wrong
    for threads in (1, 2):
        with torch_threads(threads):
            curves = reference_control_curves(
                adapted, images, labels, layer, rankings, trials, batch_size=8, capture_size=4, progress=False
            )
        np.testing.assert_array_equal(curves["correct"].values, expected)
        np.testing.assert_array_equal(curves["accuracy"].values, expected.mean(-1))
