"""Control curves of a classifier: ablate or preserve the top-k % channels of a ranking, over k.

CODEC's Fig. 6: for each class, rank a layer's channels by the mode most tied to the class
(contribution modes, activation modes) or at random, then zero the top fraction (ablate) or all
but it (preserve) and score the classifier on held-out images of that class (target) and of the
others (off-target). :func:`control_curves` runs every (ranking, intervention, fraction)
condition from one captured copy of the layer: only the network downstream of the layer runs, on
batches that stack many conditions. :func:`curve_summary` turns the per-image results into
accuracies, areas under the curves and bootstrap intervals over images.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ... import __version__
from ..._progress import progress_bar
from ...errors import RetinaCodecError
from ...models.adapter import AdaptedModel, Capture, adapt, select_rows
from ..experiments import CURVE_INTERVENTIONS

"""Conditions of a control curve: the top fraction zeroed, or everything but it zeroed."""


def n_top(fraction: float, n_channels: int) -> int:
    """Channels in the top ``fraction`` of a layer: ``round(fraction * n_channels)``, at least 1."""
    return max(1, int(round(fraction * n_channels)))


def channel_masks(rankings: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    """Keep-masks of every (ranking, intervention, fraction).

    Parameters
    ----------
    rankings : numpy.ndarray
        int (ranking, channel): each row a permutation of the channels, strongest first.
    fractions : sequence of float
        Fractions in (0, 1).

    Returns
    -------
    numpy.ndarray
        float32 (ranking, intervention, fraction, channel): 0 where a channel is zeroed, 1 where kept;
        intervention as :data:`CURVE_INTERVENTIONS`.
    """
    n_rankings, n_channels = rankings.shape
    masks = np.ones((n_rankings, 2, len(fractions), n_channels), dtype=np.float32)
    for k, fraction in enumerate(fractions):
        top = rankings[:, : n_top(fraction, n_channels)]
        rows = np.arange(n_rankings)[:, None]
        masks[rows, 0, k, top] = 0.0
        masks[:, 1, k] = 0.0
        masks[rows, 1, k, top] = 1.0
    return masks


def _masked_correct(
    model: AdaptedModel,
    layer: str,
    capture: Capture,
    labels: torch.Tensor,
    masks: torch.Tensor,
    pairs: np.ndarray,
    batch_size: int,
    bar: tqdm,
) -> np.ndarray:
    """Whether the top-1 class is right for each (mask, image) pair of one captured block of
    images, the layer's output times the mask."""
    downstream = model.downstream(layer)
    activation = capture.activation
    shape = [1] * activation.ndim
    axis = model.channel_axis(layer, activation)
    shape[axis] = activation.shape[axis]
    correct = np.empty(len(pairs), dtype=bool)
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            mask_index = torch.as_tensor(pairs[start : start + batch_size, 0], device=activation.device)
            image_index = torch.as_tensor(pairs[start : start + batch_size, 1], device=activation.device)
            rows = activation.index_select(0, image_index) * masks[mask_index].reshape(-1, *shape[1:])
            context = (
                select_rows(capture.context, image_index, activation.shape[0])
                if downstream.needs_context and capture.context is not None
                else None  # without a recorded context, downstream refuses to run
            )
            predicted = downstream(rows, context).argmax(1)
            correct[start : start + batch_size] = (predicted == labels[image_index]).cpu().numpy()
            bar.update(len(mask_index))
    return correct


def _condition_pairs(image_sets: np.ndarray, n_conditions: int) -> np.ndarray:
    """int64 (pair, 2): (ranking x n_conditions + condition, image) for every image in a ranking's set."""
    rankings, images = np.nonzero(image_sets)
    conditions = np.arange(n_conditions)
    return np.stack(
        [(rankings[:, None] * n_conditions + conditions).ravel(), np.repeat(images, n_conditions)], axis=1
    ).astype(np.int64)


def classifier_control_curves(
    model: nn.Module | AdaptedModel,
    images: torch.Tensor,
    labels: np.ndarray,
    layer: str,
    rankings: xr.DataArray,
    fractions: Sequence[float],
    image_sets: xr.DataArray,
    batch_size: int = 32,
    capture_size: int = 50,
    progress: bool = True,
) -> xr.Dataset:
    """Per-image correctness of a classifier when the top channels of each ranking are ablated or preserved.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        Classifier (eval mode) with output (image, class) logits.
    images : torch.Tensor
        (image, colour, y, x) model-ready held-out images, in the model's dtype and device.
    labels : numpy.ndarray
        (image,) true class of each image.
    layer : str
        Layer whose channels are silenced.
    rankings : xarray.DataArray
        int (ranking, rank): channel indices, strongest first, one row per ranking (a permutation
        of all the layer's channels); coords along ``ranking`` (e.g. selection, target_class, draw)
        are kept.
    fractions : sequence of float
        Fractions of the channels in (0, 1).
    image_sets : xarray.DataArray
        bool (ranking, image): which images each ranking is scored on.
    batch_size : int
        (condition, image) rows per downstream pass.
    capture_size : int
        Images whose layer output is captured (and held) at a time.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        ``correct`` (ranking, intervention, fraction, image): 1.0 or 0.0, NaN where the image is not
        in the ranking's set; ``unperturbed`` (image): correctness without intervention;
        ``n_channels`` (fraction) silenced or kept; ``true_class`` (image). Attrs: layer, channel
        count, package version.

    Notes
    -----
    The layer's output is captured once per image; each condition multiplies it by a 0/1
    channel mask and runs only the network downstream of the layer, many conditions per batch.
    """
    adapted = adapt(model)
    labels = np.asarray(labels).ravel()
    if labels.size != images.shape[0] or image_sets.shape != (rankings.sizes["ranking"], labels.size):
        raise RetinaCodecError(
            f"{labels.size} labels, {images.shape[0]} images and image sets {image_sets.shape}; "
            "expected one label per image and one (ranking, image) set"
        )
    with torch.no_grad():
        first = adapted.capture(images[:1], layer, stop=True).activation
    n_channels = first.shape[adapted.channel_axis(layer, first)]
    order = np.asarray(rankings.values, dtype=np.int64)
    if order.shape[1] != n_channels or not (np.sort(order, axis=1) == np.arange(n_channels)).all():
        raise RetinaCodecError(
            f"rankings have shape {order.shape}; expected every row a permutation of the "
            f"{n_channels} channels of layer {layer!r}"
        )
    masks = torch.as_tensor(
        channel_masks(order, fractions).reshape(-1, n_channels), dtype=images.dtype, device=images.device
    )
    pairs = _condition_pairs(np.asarray(image_sets.values, dtype=bool), 2 * len(fractions))
    target = torch.as_tensor(labels, device=images.device)
    grid = np.full((order.shape[0] * 2 * len(fractions), labels.size), np.nan)
    unperturbed = np.empty(labels.size)
    bar = progress_bar(total=len(pairs), desc=f"control of {layer}", unit="image", progress=progress)
    with bar:
        for start in range(0, labels.size, capture_size):
            stop = min(labels.size, start + capture_size)
            with torch.no_grad():
                capture = adapted.capture(images[start:stop], layer)
            assert capture.output is not None  # the pass ran to the end (stop=False)
            unperturbed[start:stop] = (capture.output.argmax(1) == target[start:stop]).cpu().numpy()
            block = pairs[(pairs[:, 1] >= start) & (pairs[:, 1] < stop)]
            grid[block[:, 0], block[:, 1]] = _masked_correct(
                adapted, layer, capture, target[start:stop], masks, block - [0, start], batch_size, bar
            )
    ranking_coords = {k: v for k, v in rankings.coords.items() if v.dims == ("ranking",)}
    return xr.Dataset(
        {
            "correct": (
                ("ranking", "intervention", "fraction", "image"),
                grid.reshape(order.shape[0], 2, len(fractions), labels.size),
            ),
            "unperturbed": ("image", unperturbed),
            "n_channels": ("fraction", [n_top(f, n_channels) for f in fractions]),
        },
        coords={
            **ranking_coords,
            "intervention": list(CURVE_INTERVENTIONS),
            "fraction": list(fractions),
            "true_class": ("image", labels),
        },
        attrs={
            "kind": "control_curves",
            "layer": str(layer),
            "n_channels_layer": int(n_channels),
            "retinacodec_version": __version__,
        },
    )


def _stratified_weights(labels: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """(1 + n_bootstrap, image) resampling counts: row 0 all ones (the data), then bootstrap draws
    of the images with replacement within each class."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((1 + n_bootstrap, labels.size))
    weights[0] = 1.0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        draws = rng.integers(0, members.size, size=(n_bootstrap, members.size))
        for b in range(n_bootstrap):
            np.add.at(weights[1 + b], members[draws[b]], 1.0)
    return weights


def _weighted_means(values: np.ndarray, valid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted means over the last (image) axis for every resample: (..., image) -> (..., resample)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(valid, values, 0.0) @ weights.T) / (valid.astype(float) @ weights.T)


def _per_class(curves: xr.Dataset, classes: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Target and off-target accuracy drops (selection, class, intervention, fraction, resample)
    and the accuracies themselves."""
    labels = curves["true_class"].values
    correct = curves["correct"].values  # (ranking, intervention, fraction, image)
    valid = ~np.isnan(correct)
    unperturbed = np.broadcast_to(curves["unperturbed"].values, correct.shape)
    selections = list(dict.fromkeys(curves["selection"].values.tolist()))
    out = {
        key: np.full((len(selections), len(classes), *correct.shape[1:3], weights.shape[0]), np.nan)
        for key in ("target_accuracy", "off_target_accuracy", "target_drop", "off_target_drop")
    }
    ranking_class = curves["target_class"].values
    for s, selection in enumerate(selections):
        for c, label in enumerate(classes):
            rankings = np.flatnonzero((curves["selection"].values == selection) & np.isin(ranking_class, [label, -1]))
            for key, members in (("target", labels == label), ("off_target", labels != label)):
                chosen = valid[rankings] & members
                accuracy = _weighted_means(correct[rankings], chosen, weights).mean(0)
                before = _weighted_means(unperturbed[rankings], chosen, weights).mean(0)
                out[f"{key}_accuracy"][s, c] = accuracy
                out[f"{key}_drop"][s, c] = before - accuracy
    return out


def _auc(values: np.ndarray, fractions: np.ndarray, axis: int) -> np.ndarray:
    """Area under a curve over log fraction, divided by the log range (a mean level in [0, 1])."""
    x = np.log(fractions)
    return np.trapezoid(values, x, axis=axis) / (x[-1] - x[0])


def curve_summary(curves: xr.Dataset, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> xr.Dataset:
    """Accuracies, areas under the curves and bootstrap intervals of :func:`control_curves` results.

    Parameters
    ----------
    curves : xarray.Dataset
        Output of :func:`control_curves` whose rankings carry coords ``selection`` and
        ``target_class`` (-1 for a class-independent ranking, e.g. random draws, which is then
        scored for every class).
    n_bootstrap : int
        Resamples of the images (with replacement, within each class).
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the percentile intervals.

    Returns
    -------
    xarray.Dataset
        Over (selection, intervention, fraction), averaged over the classes: ``target_accuracy``,
        ``off_target_accuracy``, and ``specificity``, the target-class accuracy drop minus the
        off-target drop for ``ablate`` and its negative for ``preserve`` (positive: the channels
        matter for their class more than for the others). Over (selection, intervention): ``*_auc``
        of each, the area under the curve over log fraction divided by the log range. Every
        variable ``v`` has ``v_low`` and ``v_high``, the bootstrap interval. ``gap`` and its
        interval: specificity of contribution minus activation selections (when both exist).
        ``per_class_target_accuracy`` (selection, target_class, intervention, fraction).
    """
    labels = curves["true_class"].values
    classes = np.unique(curves["target_class"].values[curves["target_class"].values >= 0])
    if not classes.size:
        raise RetinaCodecError("no class-specific ranking in the curves; expected target_class >= 0 for some")
    weights = _stratified_weights(labels, n_bootstrap, seed)
    with warnings.catch_warnings():  # a resample may leave a class without images: NaN, left out of the means
        warnings.simplefilter("ignore", RuntimeWarning)
        return _summarise(curves, classes, weights, level, n_bootstrap, seed)


def _summarise(
    curves: xr.Dataset, classes: np.ndarray, weights: np.ndarray, level: float, n_bootstrap: int, seed: int
) -> xr.Dataset:
    per_class = _per_class(curves, classes, weights)
    sign = np.array([1.0, -1.0]).reshape(1, 1, 2, 1, 1)
    per_class["specificity"] = sign * (per_class["target_drop"] - per_class["off_target_drop"])
    fractions = curves["fraction"].values
    selections = list(dict.fromkeys(curves["selection"].values.tolist()))
    dims = ("selection", "intervention", "fraction")
    alpha = (1 - level) / 2
    data = {}
    for key in ("target_accuracy", "off_target_accuracy", "specificity"):
        mean = np.nanmean(per_class[key], axis=1)  # (selection, intervention, fraction, resample)
        data.update(_with_interval(key, mean, dims, alpha))
        data.update(_with_interval(f"{key}_auc", _auc(mean, fractions, axis=2), dims[:2], alpha))
    if {"contribution", "activation"} <= set(selections):
        spec = np.nanmean(per_class["specificity"], axis=1)
        gap = spec[selections.index("contribution")] - spec[selections.index("activation")]
        data.update(_with_interval("gap", gap, dims[1:], alpha))
        data.update(_with_interval("gap_auc", _auc(gap, fractions, axis=1), dims[1:2], alpha))
    data["per_class_target_accuracy"] = (
        ("selection", "target_class", "intervention", "fraction"),
        per_class["target_accuracy"][..., 0],
    )
    return xr.Dataset(
        data,
        coords={
            "selection": selections,
            "intervention": list(curves["intervention"].values),
            "fraction": fractions,
            "target_class": classes,
            "n_channels": ("fraction", curves["n_channels"].values),
        },
        attrs={
            **curves.attrs,
            "kind": "control_curve_summary",
            "n_bootstrap": int(n_bootstrap),
            "level": float(level),
            "seed": int(seed),
        },
    )


def _with_interval(name: str, values: np.ndarray, dims: tuple[str, ...], alpha: float) -> dict:
    """``name`` (the data: resample 0) with ``name_low`` / ``name_high`` percentile bounds over
    the bootstrap resamples (last axis of ``values``)."""
    draws = values[..., 1:]
    return {
        name: (dims, values[..., 0]),
        f"{name}_low": (dims, np.nanquantile(draws, alpha, axis=-1)),
        f"{name}_high": (dims, np.nanquantile(draws, 1 - alpha, axis=-1)),
    }
