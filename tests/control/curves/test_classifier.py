"""Control curves: batched downstream-only conditions against hook-based ablation, masks and the summary."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec import RetinaCodecError
from retinacodec.control.curves import classifier as classifier_module
from retinacodec.control.curves.classifier import (
    channel_masks,
    classifier_control_curves,
    curve_summary,
    n_top,
    sanity,
)
from retinacodec.control.experiments import classifier_control
from retinacodec.control.hooks import ablate, preserve


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


@pytest.fixture
def images(classifier):
    x = torch.randn(12, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = classifier(x).argmax(1).numpy()
    labels[::4] = (labels[::4] + 1) % 3  # some mistakes already without intervention
    return x, labels


def test_masks_by_hand():
    masks = channel_masks(np.array([[2, 0, 1, 3]]), [0.25, 0.5])
    np.testing.assert_array_equal(masks[0, 0], [[1, 1, 0, 1], [0, 1, 0, 1]])  # ablate: top 1, top 2 zeroed
    np.testing.assert_array_equal(masks[0, 1], [[0, 0, 1, 0], [1, 0, 1, 0]])  # preserve: only they kept
    assert n_top(0.01, 16) == 1 and n_top(0.5, 16) == 8


@pytest.mark.filterwarnings("ignore:zero-ablating layer")
def test_curves_equal_hook_based_ablation(classifier, images, monkeypatch):
    """Each condition (downstream only, many per batch) scores like the forward-hook control."""
    x, labels = images
    monkeypatch.setattr(classifier_module, "CAPTURE_SIZE", 5)  # several captured blocks
    order = np.array([np.random.default_rng(k).permutation(10) for k in range(3)])
    rankings = xr.DataArray(
        order,
        dims=("ranking", "rank"),
        coords={"selection": ("ranking", ["a", "b", "random"]), "target_class": ("ranking", [0, 1, -1])},
    )
    sets = xr.DataArray(np.ones((3, 12), dtype=bool), dims=("ranking", "image"))
    sets[0, :3] = False
    fractions = [0.1, 0.3, 0.7]
    curves = classifier_control_curves(
        classifier, x, labels, "2", rankings, fractions, sets, batch_size=5, progress=False
    )
    assert np.isnan(curves["correct"].values[0, :, :, :3]).all()
    for r in range(3):
        for k, fraction in enumerate(fractions):
            chosen = order[r, : n_top(fraction, 10)]
            reference = classifier_control(classifier, x, labels, "2", {"s": chosen}, target_class=0, progress=False)
            for i, intervention in enumerate(("ablate", "preserve")):
                kept = np.flatnonzero(sets.values[r])
                with torch.no_grad(), _hook(classifier, chosen, intervention):
                    expected = (classifier(x).argmax(1).numpy() == labels)[kept]
                np.testing.assert_array_equal(curves["correct"].values[r, i, k, kept], expected)
            assert (
                float(reference["target_accuracy"].sel(selection="s", intervention="none"))
                == curves["unperturbed"].values[labels == 0].mean()
            )


def _hook(model, channels, intervention):
    return (ablate if intervention == "ablate" else preserve)(model, "2", channels)


def _hand_curves(correct: np.ndarray, labels: np.ndarray, selections, classes) -> xr.Dataset:
    return xr.Dataset(
        {
            "correct": (("ranking", "intervention", "fraction", "image"), correct),
            "unperturbed": ("image", np.ones(labels.size)),
            "n_channels": ("fraction", [1, 2]),
        },
        coords={
            "selection": ("ranking", selections),
            "target_class": ("ranking", classes),
            "intervention": ["ablate", "preserve"],
            "fraction": [0.1, 0.4],
            "true_class": ("image", labels),
        },
    )


def test_summary_by_hand():
    labels = np.array([0, 0, 1, 1])
    correct = np.zeros((3, 2, 2, 4))
    correct[0, :, :, 2:] = 1  # contribution, class 0: target images wrong, others right
    correct[1, :, :, :] = 1  # contribution, class 1: all right
    correct[2, :, :, 1:] = 1  # random: image 0 wrong
    curves = _hand_curves(correct, labels, ["contribution", "contribution", "random"], [0, 1, -1])
    s = curve_summary(curves, n_bootstrap=200, seed=0)
    assert float(s["target_accuracy"].sel(selection="contribution", intervention="ablate", fraction=0.1)) == 0.5
    assert float(s["off_target_accuracy"].sel(selection="contribution", intervention="ablate", fraction=0.1)) == 1.0
    # random: class 0 target 1/2, class 1 target 1; mean 0.75
    assert float(s["target_accuracy"].sel(selection="random", intervention="ablate", fraction=0.4)) == 0.75
    # ablate specificity = target drop - off-target drop: class 0: 1 - 0, class 1: 0 - 0 -> mean 0.5
    assert float(s["specificity"].sel(selection="contribution", intervention="ablate", fraction=0.1)) == 0.5
    assert float(s["specificity_auc"].sel(selection="contribution", intervention="ablate")) == pytest.approx(0.5)
    low, high = (
        float(s[f"target_accuracy_{b}"].sel(selection="random", intervention="ablate", fraction=0.4))
        for b in ("low", "high")
    )
    assert low <= 0.75 <= high and low < high


def test_rankings_must_be_permutations(classifier, images):
    x, labels = images
    bad = xr.DataArray(
        np.zeros((1, 10), dtype=int),
        dims=("ranking", "rank"),
        coords={"selection": ("ranking", ["a"]), "target_class": ("ranking", [0])},
    )
    with pytest.raises(RetinaCodecError, match="permutation"):
        classifier_control_curves(
            classifier,
            x,
            labels,
            "2",
            bad,
            [0.5],
            xr.DataArray(np.ones((1, 12), bool), dims=("ranking", "image")),
            progress=False,
        )


def _random_rankings(n_channels: int, n_images: int):
    order = np.array([np.random.default_rng(k).permutation(n_channels) for k in range(2)])
    rankings = xr.DataArray(
        order,
        dims=("ranking", "rank"),
        coords={"selection": ("ranking", ["a", "random"]), "target_class": ("ranking", [0, -1])},
    )
    return order, rankings, xr.DataArray(np.ones((2, n_images), dtype=bool), dims=("ranking", "image"))


def test_mean_ablation_equals_the_hook_with_the_channel_means(classifier, images):
    x, labels = images
    order, rankings, sets = _random_rankings(10, 12)
    means = np.linspace(-0.5, 0.5, 10)
    curves = classifier_control_curves(
        classifier, x, labels, "2", rankings, [0.3], sets, ablation=means, progress=False
    )
    assert curves.attrs["ablation"] == "mean" and curves.attrs["ablation_means"] == "given"
    np.testing.assert_array_equal(curves["fill"].values, means)
    chosen = order[0, : n_top(0.3, 10)]
    for i, hook in enumerate((ablate, preserve)):
        with torch.no_grad(), hook(classifier, "2", chosen, fill=means):
            expected = classifier(x).argmax(1).numpy() == labels
        np.testing.assert_array_equal(curves["correct"].values[0, i, 0], expected)


def test_mean_ablation_over_the_images(classifier, images, monkeypatch):
    """'mean' takes each channel's mean over the images scored, in chunks of CAPTURE_SIZE."""
    x, labels = images
    monkeypatch.setattr(classifier_module, "CAPTURE_SIZE", 5)
    _, rankings, sets = _random_rankings(10, 12)
    curves = classifier_control_curves(
        classifier, x, labels, "2", rankings, [0.3], sets, ablation="mean", progress=False
    )
    with torch.no_grad():
        expected = classifier[:3](x).double().mean((0, 2, 3)).numpy()
    np.testing.assert_allclose(curves["fill"].values, expected, rtol=1e-6)
    assert curves.attrs["ablation_means"] == "held-out images"


def test_zero_ablation_warns_where_zero_is_not_off(classifier, images):
    x, labels = images
    _, rankings, sets = _random_rankings(10, 12)
    with pytest.warns(UserWarning, match="zero-ablating layer '2' .* signed .* ablation='mean'"):
        curves = classifier_control_curves(classifier, x, labels, "2", rankings, [0.3], sets, progress=False)
    assert curves.attrs["ablation"] == "zero" and curves.attrs["non_negative"] == 0 and "fill" not in curves
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # after the ReLU zero is a channel's resting state: no warning
        relu = classifier_control_curves(classifier, x, labels, "3", rankings, [0.3], sets, progress=False)
    assert relu.attrs["last_op"] == "ReLU" and relu.attrs["non_negative"] == 1
    with pytest.raises(RetinaCodecError, match="ablation 'half'; expected one of zero, mean"):
        classifier_control_curves(classifier, x, labels, "3", rankings, [0.3], sets, ablation="half", progress=False)
    with pytest.raises(RetinaCodecError, match=r"expected 'zero', 'mean' or finite channel means of shape \(10,\)"):
        classifier_control_curves(classifier, x, labels, "3", rankings, [0.3], sets, ablation=[0.0], progress=False)


def test_ratio_scores_by_hand():
    """The reference's ratio curves and score, and the score against the random channels."""
    labels = np.array([0, 0, 1, 1])
    correct = np.ones((2, 2, 2, 4))
    correct[0, 0, 0, 0] = 0  # contribution, class 0, ablate at 10 %: one of two target images wrong
    correct[0, 0, 1, :2] = 0  # at 40 %: both
    correct[1, 0, 1, 0] = 0  # random, ablate at 40 %: image 0 (class 0) wrong
    s = curve_summary(_hand_curves(correct, labels, ["contribution", "random"], [0, -1]), n_bootstrap=20)
    ablate_c = s.sel(selection="contribution", intervention="ablate")
    np.testing.assert_allclose(ablate_c["target_ratio"], [0.5, 0.0])
    np.testing.assert_allclose(ablate_c["off_target_ratio"], [1.0, 1.0])
    target_auc, off_auc = 0.25, 1.0  # trapezoid over 10 .. 40 %, divided by the range
    assert float(ablate_c["target_ratio_auc"]) == pytest.approx(target_auc)
    assert float(ablate_c["score"]) == pytest.approx((target_auc - off_auc) / off_auc)
    random_auc = (1.0 + 0.5) / 2  # random target curve for class 0: 1, then 1/2
    assert float(ablate_c["score_vs_random"]) == pytest.approx((target_auc - random_auc) / random_auc)
    assert float(s["score_vs_random"].sel(selection="random", intervention="ablate")) == 0.0


def test_sanity_by_hand():
    labels = np.array([0, 0, 1, 1])
    correct = np.ones((2, 2, 2, 4))
    correct[1, 0, 0, 0] = 0  # random: ablating the fewest channels breaks one image of four
    correct[0] = 0  # the class ranking does not count
    checked = sanity(_hand_curves(correct, labels, ["contribution", "random"], [0, -1]))
    assert checked["fraction"].values.tolist() == [0.1, 0.4]  # ablate the smallest, preserve the largest
    assert checked["relative"].values.tolist() == [0.75, 1.0]
    assert checked["passed"].values.tolist() == [False, True]
    assert checked["n_pairs"].values.tolist() == [4, 4]
    with pytest.raises(RetinaCodecError, match="no random ranking"):
        sanity(_hand_curves(correct, labels, ["contribution", "activation"], [0, 1]))
