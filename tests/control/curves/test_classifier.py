"""Control curves: batched downstream-only conditions against hook-based ablation, masks and the summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from retinacodec import RetinaCodecError
from retinacodec.control.curves.classifier import channel_masks, classifier_control_curves, curve_summary, n_top
from retinacodec.control.experiments import classifier_control


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


def test_curves_equal_hook_based_ablation(classifier, images):
    """Each condition (downstream only, many per batch) scores like the forward-hook control."""
    x, labels = images
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
    from retinacodec.control.hooks import ablate, preserve

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
