"""Control curves of a classifier: ablate or preserve the top-k % channels of a ranking, over k.

CODEC's Fig. 6: for each class, rank a layer's channels by the mode most tied to the class
(contribution modes, activation modes) or at random, then zero the top fraction (ablate) or all
but it (preserve) and score the classifier on held-out images of that class (target) and of the
others (off-target). :func:`control_curves` runs every (ranking, intervention, fraction)
condition from one captured copy of the layer: only the network downstream of the layer runs, on
batches that stack many conditions. A silenced channel becomes zero, or its mean (``ablation``);
zeroing a layer where zero is not a channel's resting state warns. :func:`curve_summary` turns the
per-image results into accuracies, areas under the curves and bootstrap intervals over images.
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
from ...models.adapter import MEAN_OFFSET_TOLERANCE, AdaptedModel, Capture, InterventionPoint, adapt, select_rows
from ..experiments import CURVE_INTERVENTIONS
from ..hooks import ABLATIONS

CAPTURE_SIZE = 50
"""Images whose layer output is captured (and held) at a time."""


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
    masks: tuple[torch.Tensor, torch.Tensor | None],
    pairs: np.ndarray,
    batch_size: int,
    bar: tqdm,
) -> np.ndarray:
    """Whether the top-1 class is right for each (mask, image) pair of one captured block of
    images, the layer's output times the mask (plus the mask's fill, for a mean ablation)."""
    keep, fill = masks
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
            rows = activation.index_select(0, image_index) * keep[mask_index].reshape(-1, *shape[1:])
            if fill is not None:
                rows = rows + fill[mask_index].reshape(-1, *shape[1:])
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


ZERO_ABLATION_WARNING = (
    "zero-ablating layer {layer!r} ({module}), where zero is not a channel's resting state: its output is "
    "signed (min < 0 on {n} images; last op {last_op}) and its channel means are {offset:.2f} of its RMS "
    "(tolerance {tolerance}); zeroed channels are pushed far from their usual values, whatever they encode. "
    "ablation='mean' replaces them by their means instead"
)
"""The warning of a zero ablation where zero does not mean "off" (shown once per layer)."""


def _warn_if_zero_is_on(point: InterventionPoint) -> None:
    if not point.zero_is_off:
        warnings.warn(
            ZERO_ABLATION_WARNING.format(
                layer=point.layer,
                module=point.module,
                n=point.n_inputs,
                last_op=point.last_op or "a sum",
                offset=point.mean_offset,
                tolerance=MEAN_OFFSET_TOLERANCE,
            ),
            UserWarning,
            stacklevel=4,  # the caller of classifier_control_curves
        )


def _channel_means(adapted: AdaptedModel, images: torch.Tensor, layer: str) -> np.ndarray:
    """(channel,) float64 mean of each channel of the layer over ``images`` and positions."""
    total: float | np.ndarray = 0.0
    for start in range(0, images.shape[0], CAPTURE_SIZE):
        chunk = images[start : start + CAPTURE_SIZE]
        total = total + adapted.intervention_point(chunk, layer).channel_mean * chunk.shape[0]
    return np.asarray(total) / images.shape[0]


def _ablation_fill(
    adapted: AdaptedModel, images: torch.Tensor, layer: str, ablation: str | np.ndarray, point: InterventionPoint
) -> tuple[str, np.ndarray | None]:
    """(where the fill values come from, (channel,) fill values or None for zero)."""
    if isinstance(ablation, str):
        if ablation not in ABLATIONS:
            raise RetinaCodecError(f"ablation {ablation!r}; expected one of {', '.join(ABLATIONS)}, or channel means")
        if ablation == "zero":
            _warn_if_zero_is_on(point)
            return "", None
        return "held-out images", _channel_means(adapted, images, layer)
    values = np.asarray(ablation, dtype=np.float64)
    if values.shape != point.channel_mean.shape or not np.isfinite(values).all():
        raise RetinaCodecError(
            f"ablation values of shape {values.shape}; expected 'zero', 'mean' or finite channel means of shape "
            f"{point.channel_mean.shape} (one per channel of layer {point.layer!r})"
        )
    return "given", values


def _mask_tensors(
    masks: np.ndarray, fill: np.ndarray | None, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Keep-masks (mask, channel) and, for a mean ablation, what replaces the silenced channels."""
    keep = torch.as_tensor(masks, dtype=images.dtype, device=images.device)
    if fill is None:
        return keep, None
    return keep, torch.as_tensor((1 - masks) * fill, dtype=images.dtype, device=images.device)


def classifier_control_curves(
    model: nn.Module | AdaptedModel,
    images: torch.Tensor,
    labels: np.ndarray,
    layer: str,
    rankings: xr.DataArray,
    fractions: Sequence[float],
    image_sets: xr.DataArray,
    batch_size: int = 32,
    ablation: str | np.ndarray = "zero",
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
    ablation : {"zero", "mean"} or array-like
        What a silenced channel becomes at every position: zero (warns where zero is not a
        channel's resting state, see :meth:`~retinacodec.models.adapter.AdaptedModel.intervention_point`),
        its mean over ``images`` (``"mean"``), or the given (channel,) means (e.g. over the images
        the modes were fitted on).
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        ``correct`` (ranking, intervention, fraction, image): 1.0 or 0.0, NaN where the image is not
        in the ranking's set; ``unperturbed`` (image): correctness without intervention;
        ``n_channels`` (fraction) silenced or kept; ``true_class`` (image); for a mean ablation
        ``fill`` (channel), the values put in. Attrs: layer, channel count, ``ablation`` ("zero"
        or "mean") and where its means come from, the intervention point (``last_op``,
        ``non_negative``, ``zero_fraction``, ``mean_offset``, measured on the first
        :data:`CAPTURE_SIZE` images), package version.

    Notes
    -----
    The layer's output is captured once per image; each condition multiplies it by a 0/1
    channel mask (and adds the fill where the mask is 0) and runs only the network downstream of
    the layer, many conditions per batch.
    """
    adapted = adapt(model)
    labels = np.asarray(labels).ravel()
    if labels.size != images.shape[0] or image_sets.shape != (rankings.sizes["ranking"], labels.size):
        raise RetinaCodecError(
            f"{labels.size} labels, {images.shape[0]} images and image sets {image_sets.shape}; "
            "expected one label per image and one (ranking, image) set"
        )
    point = adapted.intervention_point(images[:CAPTURE_SIZE], layer)
    n_channels = point.channel_mean.size
    order = np.asarray(rankings.values, dtype=np.int64)
    if order.shape[1] != n_channels or not (np.sort(order, axis=1) == np.arange(n_channels)).all():
        raise RetinaCodecError(
            f"rankings have shape {order.shape}; expected every row a permutation of the "
            f"{n_channels} channels of layer {layer!r}"
        )
    source, fill = _ablation_fill(adapted, images, layer, ablation, point)
    masks = _mask_tensors(channel_masks(order, fractions).reshape(-1, n_channels), fill, images)
    pairs = _condition_pairs(np.asarray(image_sets.values, dtype=bool), 2 * len(fractions))
    target = torch.as_tensor(labels, device=images.device)
    grid = np.full((order.shape[0] * 2 * len(fractions), labels.size), np.nan)
    unperturbed = np.empty(labels.size)
    bar = progress_bar(total=len(pairs), desc=f"control of {layer}", unit="image", progress=progress)
    with bar:
        for start in range(0, labels.size, CAPTURE_SIZE):
            stop = min(labels.size, start + CAPTURE_SIZE)
            with torch.no_grad():
                capture = adapted.capture(images[start:stop], layer)
            assert capture.output is not None  # the pass ran to the end (stop=False)
            unperturbed[start:stop] = (capture.output.argmax(1) == target[start:stop]).cpu().numpy()
            block = pairs[(pairs[:, 1] >= start) & (pairs[:, 1] < stop)]
            grid[block[:, 0], block[:, 1]] = _masked_correct(
                adapted, layer, capture, target[start:stop], masks, block - [0, start], batch_size, bar
            )
    return _curves_dataset(
        rankings,
        grid.reshape(order.shape[0], 2, len(fractions), labels.size),
        unperturbed,
        fractions,
        labels,
        point,
        source,
        fill,
    )


def _curves_dataset(
    rankings: xr.DataArray,
    correct: np.ndarray,
    unperturbed: np.ndarray,
    fractions: Sequence[float],
    labels: np.ndarray,
    point: InterventionPoint,
    source: str,
    fill: np.ndarray | None,
) -> xr.Dataset:
    n_channels = point.channel_mean.size
    ranking_coords = {k: v for k, v in rankings.coords.items() if v.dims == ("ranking",)}
    data: dict[str, tuple] = {
        "correct": (("ranking", "intervention", "fraction", "image"), correct),
        "unperturbed": ("image", unperturbed),
        "n_channels": ("fraction", [n_top(f, n_channels) for f in fractions]),
    }
    if fill is not None:
        data["fill"] = ("channel", fill, {"long_name": f"each silenced channel's value (its mean over the {source})"})
    return xr.Dataset(
        data,
        coords={
            **ranking_coords,
            "intervention": list(CURVE_INTERVENTIONS),
            "fraction": list(fractions),
            "true_class": ("image", labels),
        },
        attrs={
            "kind": "control_curves",
            "layer": str(point.layer),
            "n_channels_layer": int(n_channels),
            "ablation": "zero" if fill is None else "mean",
            "ablation_means": source,
            "last_op": point.last_op,
            "post_nonlinearity": int(point.post_nonlinearity),
            "non_negative": int(point.non_negative),
            "zero_fraction": float(point.zero_fraction),
            "mean_offset": float(point.mean_offset),
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
    """Target and off-target accuracy drops (selection, class, intervention, fraction, resample),
    the accuracies themselves and the unperturbed accuracies on the same images."""
    labels = curves["true_class"].values
    correct = curves["correct"].values  # (ranking, intervention, fraction, image)
    valid = ~np.isnan(correct)
    unperturbed = np.broadcast_to(curves["unperturbed"].values, correct.shape)
    selections = list(dict.fromkeys(curves["selection"].values.tolist()))
    out = {
        key: np.full((len(selections), len(classes), *correct.shape[1:3], weights.shape[0]), np.nan)
        for key in (
            "target_accuracy",
            "off_target_accuracy",
            "target_drop",
            "off_target_drop",
            "target_before",
            "off_target_before",
        )
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
                out[f"{key}_before"][s, c] = before
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
        The reference's quantities: ``target_ratio`` and ``off_target_ratio`` (selection,
        intervention, fraction), perturbed over unperturbed accuracy on the same images, per class
        then averaged; ``*_ratio_auc``, their trapezoid areas over the linear % axis divided by its
        range; ``score`` (selection, intervention), the reference's layer score
        (AUC_target - AUC_off) / AUC_off; ``score_vs_random``, the same against the random
        channels' target curve at the layer, (AUC_target - AUC_random) / AUC_random (when random
        rankings exist). ``per_class_target_accuracy`` (selection, target_class, intervention, fraction).
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
    data.update(_ratio_scores(per_class, fractions, selections, dims, alpha))
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


def accuracy_ratio(accuracy: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Perturbed over original accuracy (broadcast), NaN where the original accuracy is 0: undefined,
    never infinite, so that means over trials or classes leave it out."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(original > 0, accuracy / original, np.nan)


def _ratio_scores(
    per_class: dict[str, np.ndarray], fractions: np.ndarray, selections: list[str], dims: tuple[str, ...], alpha: float
) -> dict:
    """Perturbed / unperturbed accuracy curves (the reference's), their areas over the linear %
    axis, the reference's layer score against the off-target curve and the score against the
    random channels' target curve."""
    data, auc = {}, {}
    for key in ("target", "off_target"):
        ratio = np.nanmean(accuracy_ratio(per_class[f"{key}_accuracy"], per_class[f"{key}_before"]), axis=1)
        data.update(_with_interval(f"{key}_ratio", ratio, dims, alpha))
        auc[key] = _linear_auc(ratio, 100 * fractions, axis=2)  # (selection, intervention, resample)
        data.update(_with_interval(f"{key}_ratio_auc", auc[key], dims[:2], alpha))
    with np.errstate(invalid="ignore", divide="ignore"):
        data.update(_with_interval("score", (auc["target"] - auc["off_target"]) / auc["off_target"], dims[:2], alpha))
        if "random" in selections:
            random = auc["target"][selections.index("random")]
            data.update(_with_interval("score_vs_random", (auc["target"] - random) / random, dims[:2], alpha))
    return data


def _linear_auc(values: np.ndarray, percent: np.ndarray, axis: int) -> np.ndarray:
    """Trapezoid area under a curve over the linear % axis, divided by the % range (a mean level)."""
    return np.trapezoid(values, percent, axis=axis) / (percent[-1] - percent[0])


def _with_interval(name: str, values: np.ndarray, dims: tuple[str, ...], alpha: float) -> dict:
    """``name`` (the data: resample 0) with ``name_low`` / ``name_high`` percentile bounds over
    the bootstrap resamples (last axis of ``values``)."""
    draws = values[..., 1:]
    return {
        name: (dims, values[..., 0]),
        f"{name}_low": (dims, np.nanquantile(draws, alpha, axis=-1)),
        f"{name}_high": (dims, np.nanquantile(draws, 1 - alpha, axis=-1)),
    }


SANITY_TOLERANCE = 0.05
"""Largest relative accuracy loss at which an intervention point passes the sanity check."""


def sanity(curves: xr.Dataset, tolerance: float = SANITY_TOLERANCE) -> xr.Dataset:
    """Whether a layer is a sound intervention point: small random interventions leave accuracy alone.

    Ablating the fewest random channels (the smallest fraction, 1 % by default) and preserving the
    most (the largest, 99 %) should leave the accuracy within ``tolerance`` of the unperturbed
    accuracy on the same images; a layer that fails it breaks the network whatever channels are
    chosen, and its control curves say nothing about the channels.

    Parameters
    ----------
    curves : xarray.Dataset
        Output of :func:`classifier_control_curves` with rankings of selection ``"random"``.
    tolerance : float
        Largest accepted relative loss, 1 - accuracy / unperturbed accuracy.

    Returns
    -------
    xarray.Dataset
        Over ``intervention`` (ablate, preserve): ``fraction`` used, ``accuracy`` over every
        (random ranking, image) pair, ``unperturbed`` accuracy on the same pairs, ``relative``
        (their ratio), ``passed`` (bool) and ``n_pairs``. Attrs: layer, ablation, tolerance.

    Raises
    ------
    RetinaCodecError
        When the curves have no random ranking.
    """
    random = curves["selection"].values == "random"
    if not random.any():
        raise RetinaCodecError("no random ranking in the curves; expected rankings of selection 'random'")
    fractions = curves["fraction"].values
    correct = curves["correct"].values[random]  # (ranking, intervention, fraction, image)
    unperturbed = np.broadcast_to(curves["unperturbed"].values, correct.shape[:1] + correct.shape[-1:])
    interventions = list(curves["intervention"].values)
    at = [int(np.argmin(fractions)) if i == "ablate" else int(np.argmax(fractions)) for i in interventions]
    rows = []
    for i, k in enumerate(at):
        values = correct[:, i, k]
        valid = ~np.isnan(values)
        accuracy, before = float(values[valid].mean()), float(unperturbed[valid].mean())
        relative = accuracy / before if before > 0 else float("nan")
        rows.append((fractions[k], accuracy, before, relative, bool(relative >= 1 - tolerance), int(valid.sum())))
    columns = list(zip(*rows))
    names = ("fraction", "accuracy", "unperturbed", "relative", "passed", "n_pairs")
    return xr.Dataset(
        {name: ("intervention", list(values)) for name, values in zip(names, columns)},
        coords={"intervention": interventions},
        attrs={
            "kind": "control_sanity",
            "layer": curves.attrs.get("layer", ""),
            "ablation": curves.attrs.get("ablation", "zero"),
            "tolerance": float(tolerance),
        },
    )
