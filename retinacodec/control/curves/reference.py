"""Control curves as CODEC's reference code computes them (the ``codec`` protocol's Fig. 6).

The authors' ``perform_layerwise_ablations.py`` and ``plot_auc.py`` (``baccuslab/CODEC_ICLR_2026``,
with ``bscope``): per (layer, percentage, trial) a random target and off-target class and 10 images
of each; the ``int(C * pct / 100)`` largest entries of the signed dictionary atom of the class's
mode are zeroed at every position (ablate) or every other channel is (preserve); top-1 accuracy
over all logits, perturbed over original, per class; the trapezoid area under the mean ratio over
the percentages on a linear axis; the layer score ``(AUC_target - AUC_off) / AUC_off``.

:func:`draw_trials` draws the trials, :func:`reference_control_curves` scores them (the layer
captured once per image, only the network downstream of it rerun per condition) and
:func:`ratio_summary` gives the ratios, areas and scores, with bootstrap intervals over trials.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ... import __version__
from ..._progress import progress_bar
from ...device import torch_threads
from ...errors import RetinaCodecError
from ...models.adapter import AdaptedModel, Capture, adapt
from ..experiments import CURVE_INTERVENTIONS
from .classifier import _masked_correct, accuracy_ratio

PCTS = (1, 2, 5, 10, 18, 25, 50, 80, 99)
"""Percentages of a layer's channels ablated or preserved in the reference code."""
REFERENCE_SEED = 1992
"""Seed of the reference's draws of classes and images."""
N_TRIALS = 20
"""Trials (random target and off-target class pairs) per (layer, percentage) in the reference."""
N_TRIAL_IMAGES = 10
"""Images of each class per trial in the reference."""
ROLES = ("target", "off_target")


def reference_count(n_channels: int, pct: float) -> int:
    """Channels at ``pct`` % of a layer, as the reference counts them: ``int(n_channels * pct / 100)``
    (rounded down, 0 when the layer has fewer than ``100 / pct`` channels)."""
    if not 0 < pct <= 100:
        raise RetinaCodecError(f"percentage {pct!r}; expected a number in (0, 100]")
    return int(n_channels * pct / 100)


def signed_ranking(atom: np.ndarray) -> np.ndarray:
    """Channels ordered by their signed atom entry, largest first (the reference's ``top_n``:
    its first ``n`` entries are ``argsort(atom)[-n:][::-1]``); int64 (channel,)."""
    values = np.asarray(atom, dtype=float)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise RetinaCodecError(f"atom has shape {values.shape}; expected a finite (channel,) vector")
    return np.argsort(values)[::-1].astype(np.int64)


def ranked_mode(correlation: np.ndarray, live: np.ndarray, rank: int = 1) -> int:
    """The mode at position ``rank`` of the live modes sorted by correlation, largest first.

    Parameters
    ----------
    correlation : numpy.ndarray
        (mode,) Pearson r of each mode's codes with a class indicator (NaN counts as 0).
    live : numpy.ndarray
        bool (mode,): modes active on some sample; the reference drops dead modes first.
    rank : int
        0 for the best-correlated mode, 1 for the second (the reference's ``get_top_mode(..., 1)``).

    Returns
    -------
    int
        Position of the chosen mode along ``mode``.
    """
    r = np.asarray(correlation, dtype=float)
    candidates = np.flatnonzero(np.asarray(live, dtype=bool))
    if r.ndim != 1 or np.shape(live) != r.shape:
        raise RetinaCodecError(f"correlation {r.shape} and live {np.shape(live)}; expected two (mode,) vectors")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < candidates.size:
        raise RetinaCodecError(
            f"mode rank {rank!r} among {candidates.size} live modes; expected an integer in 0..{candidates.size - 1}"
        )
    order = candidates[np.argsort(np.nan_to_num(r[candidates], nan=0.0))[::-1]]
    return int(order[rank])


def draw_trials(
    labels: np.ndarray,
    n_blocks: int,
    n_trials: int = N_TRIALS,
    n_images: int = N_TRIAL_IMAGES,
    seed: int = REFERENCE_SEED,
) -> xr.Dataset:
    """Seeded draws of (target, off-target) classes and their images, block by block.

    Parameters
    ----------
    labels : numpy.ndarray
        (image,) class of each image the trials may use.
    n_blocks : int
        Blocks of trials; the reference's blocks are its (layer, percentage) pairs, layers last to
        first, in one stream from one seed.
    n_trials : int
        Trials per block.
    n_images : int
        Images of each class per trial, drawn without replacement.
    seed : int
        Seed of the legacy NumPy stream (the reference's ``np.random.seed``).

    Returns
    -------
    xarray.Dataset
        ``trial_class`` (block, trial, role) and ``trial_image`` (block, trial, role, slot): image
        positions; role ``target``, ``off_target``.

    Notes
    -----
    Per trial: the target class, then the off-target class, then the images of each, as the
    reference orders its draws. The off-target class is drawn among the other classes; the
    reference draws both from all 1000 classes (the same class in 0.1 % of its trials).
    """
    labels = np.asarray(labels).ravel()
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    smallest = min(m.size for m in members)
    if classes.size < 2 or smallest < n_images:
        raise RetinaCodecError(
            f"{classes.size} classes, the smallest with {smallest} images; expected at least 2 classes "
            f"of at least {n_images} images each"
        )
    rng = np.random.RandomState(seed)
    drawn = np.empty((n_blocks, n_trials, 2), dtype=np.int64)
    images = np.empty((n_blocks, n_trials, 2, n_images), dtype=np.int64)
    for b in range(n_blocks):
        for t in range(n_trials):
            target = rng.randint(0, classes.size)
            other = rng.randint(0, classes.size - 1)
            pair = (target, other + (other >= target))
            drawn[b, t] = classes[list(pair)]
            for role, k in enumerate(pair):
                images[b, t, role] = rng.choice(members[k], size=n_images, replace=False)
    return xr.Dataset(
        {
            "trial_class": (("block", "trial", "role"), drawn),
            "trial_image": (("block", "trial", "role", "slot"), images),
        },
        coords={"role": list(ROLES)},
        attrs={"seed": int(seed)},
    )


def reference_masks(rankings: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Keep-masks (..., intervention, pct, trial, channel) from rankings (..., pct, trial, channel).

    Ablate zeroes the first ``counts[p]`` channels of each ranking, preserve zeroes all the others
    (a count of 0 zeroes no channel under ablate and every channel under preserve); float32, 1 = kept.
    """
    order = np.asarray(rankings, dtype=np.int64)
    sizes = np.asarray(counts, dtype=np.int64)
    top = np.arange(order.shape[-1]) < sizes[:, None, None]  # (pct, trial, rank)
    chosen = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(chosen, order, np.broadcast_to(top, order.shape), axis=-1)
    return np.stack([~chosen, chosen], axis=-4).astype(np.float32)


def reference_control_curves(
    model: nn.Module | AdaptedModel,
    images: torch.Tensor,
    labels: np.ndarray,
    layer: str,
    rankings: xr.DataArray,
    trials: xr.Dataset,
    batch_size: int = 32,
    capture_size: int = 50,
    progress: bool = True,
) -> xr.Dataset:
    """Original and perturbed top-1 accuracy of each trial's target and off-target class.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        Classifier (eval mode) with output (image, class) logits.
    images : torch.Tensor
        (image, colour, y, x) model-ready images, in the model's dtype and device.
    labels : numpy.ndarray
        (image,) true class of each image.
    layer : str
        Layer whose channels are zeroed (at every position).
    rankings : xarray.DataArray
        int (selection, pct, trial, rank): each a permutation of the layer's channels, strongest
        first; coord ``pct`` (percentages). Coords over (selection, pct, trial) are kept.
    trials : xarray.Dataset
        ``trial_image`` (pct, trial, role, slot) image positions, ``trial_class`` (pct, trial, role).
    batch_size : int
        (mask, image) rows per downstream pass.
    capture_size : int
        Images whose layer output is captured (and held) at a time.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        ``accuracy`` (selection, intervention, pct, trial, role) perturbed and ``original`` (pct,
        trial, role) top-1 accuracy over the trial's images of the class, in [0, 1]; ``correct``
        (selection, intervention, pct, trial, role, slot) whether each trial image's perturbed top-1
        class is right; ``trial_class``, ``trial_image``; ``n_channels`` (pct) zeroed or kept.
        Attrs: layer, channel count, package version.

    Notes
    -----
    Each distinct (mask, image) pair is scored once (trials of one class share its mode's masks,
    and a count of 0 gives the same mask for every ranking), each image's layer output is
    captured once, and only the network downstream of the layer runs per pair. On the CPU the
    passes are spread over ``torch.get_num_threads()`` worker threads of one torch thread each,
    which keeps its speed when other processes share the cores.
    """
    adapted = adapt(model)
    labels = np.asarray(labels).ravel()
    with torch.inference_mode():
        first = adapted.capture(images[:1], layer, stop=True).activation
    n_channels = first.shape[adapted.channel_axis(layer, first)]
    order = np.asarray(rankings.transpose("selection", "pct", "trial", "rank").values, dtype=np.int64)
    chosen = np.asarray(trials["trial_image"].transpose("pct", "trial", "role", "slot").values, dtype=np.int64)
    if order.shape[-1] != n_channels or not (np.sort(order, axis=-1) == np.arange(n_channels)).all():
        raise RetinaCodecError(
            f"rankings have shape {order.shape}; expected every ranking a permutation of the "
            f"{n_channels} channels of layer {layer!r}"
        )
    if chosen.shape[:2] != order.shape[1:3] or labels.size != images.shape[0] or chosen.max() >= labels.size:
        raise RetinaCodecError(
            f"trials {chosen.shape}, rankings {order.shape}, {labels.size} labels and {images.shape[0]} images; "
            "expected trials and rankings over the same (pct, trial) and one label per image"
        )
    pcts = rankings["pct"].values
    counts = [reference_count(n_channels, p) for p in pcts]
    masks = reference_masks(order, counts)  # (selection, intervention, pct, trial, channel)
    distinct, pairs, pair_of = distinct_pairs(masks, chosen)
    scored, unperturbed = _score_pairs(
        adapted, images, labels, layer, distinct, pairs, (batch_size, capture_size), progress
    )
    correct = scored[pair_of].reshape(*masks.shape[:-1], *chosen.shape[2:])
    kept = {k: v for k, v in rankings.coords.items() if k != "pct" and set(v.dims) <= {"selection", "pct", "trial"}}
    return xr.Dataset(
        {
            "accuracy": (("selection", "intervention", "pct", "trial", "role"), correct.mean(-1)),
            "original": (("pct", "trial", "role"), unperturbed[chosen].mean(-1)),
            "correct": (("selection", "intervention", "pct", "trial", "role", "slot"), correct),
            "trial_class": (("pct", "trial", "role"), trials["trial_class"].transpose("pct", "trial", "role").values),
            "trial_image": (("pct", "trial", "role", "slot"), chosen),
            "n_channels": ("pct", counts),
        },
        coords={**kept, "intervention": list(CURVE_INTERVENTIONS), "pct": pcts, "role": list(ROLES)},
        attrs={
            "kind": "reference_control_curves",
            "layer": str(layer),
            "n_channels_layer": int(n_channels),
            "retinacodec_version": __version__,
        },
    )


def distinct_pairs(masks: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (mask, image) pairs of the trials, each once.

    Parameters
    ----------
    masks : numpy.ndarray
        (..., pct, trial, channel) keep-masks of every condition (:func:`reference_masks`).
    chosen : numpy.ndarray
        int (pct, trial, role, slot) image positions of each trial.

    Returns
    -------
    tuple of numpy.ndarray
        (distinct masks (mask, channel); int64 (pair, 2) distinct (mask, image) pairs, sorted;
        int64 (condition x role x slot,) the pair of each trial image of each condition, in the
        order of ``masks``' leading axes, then role and slot).
    """
    n_masks = int(np.prod(masks.shape[:-1]))
    distinct, mask_of = np.unique(masks.reshape(n_masks, -1), axis=0, return_inverse=True)
    per_trial = chosen.reshape(chosen.shape[0] * chosen.shape[1], -1)  # (pct x trial, role x slot)
    trial_of = np.arange(n_masks) % per_trial.shape[0]  # masks end in (pct, trial)
    every = np.stack([np.repeat(mask_of.ravel(), per_trial.shape[1]), per_trial[trial_of].ravel()], axis=1)
    pairs, pair_of = np.unique(every, axis=0, return_inverse=True)
    return distinct, pairs.astype(np.int64), pair_of.ravel().astype(np.int64)


def _score_pairs(
    adapted: AdaptedModel,
    images: torch.Tensor,
    labels: np.ndarray,
    layer: str,
    masks: np.ndarray,
    pairs: np.ndarray,
    sizes: tuple[int, int],
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of every (mask, image) pair in ``pairs``, and of every image unperturbed (NaN for
    images no pair uses), capturing only the images the pairs use, ``sizes`` = (rows per
    downstream pass, images per capture)."""
    batch_size, capture_size = sizes
    needed = np.unique(pairs[:, 1])
    mask_tensor = torch.as_tensor(masks, dtype=images.dtype, device=images.device)
    target = torch.as_tensor(labels, device=images.device)
    correct = np.empty(len(pairs), dtype=bool)
    unperturbed = np.full(labels.size, np.nan)
    workers = torch.get_num_threads() if images.device.type == "cpu" else 1
    adapted.downstream(layer)  # traces a split graph, if any, before the workers share it
    bar = progress_bar(total=len(pairs), desc=f"reference control of {layer}", unit="image", progress=progress)
    with bar, ThreadPoolExecutor(workers) as pool:
        for start in range(0, needed.size, capture_size):
            block = needed[start : start + capture_size]
            rows = torch.as_tensor(block, device=images.device)
            with torch.inference_mode():
                capture = adapted.capture(images.index_select(0, rows), layer)
                _ = capture.context  # prepared here, once, before the workers read it
            assert capture.output is not None  # the pass ran to the end (stop=False)
            unperturbed[block] = (capture.output.argmax(1) == target[rows]).cpu().numpy()
            where = np.flatnonzero(np.isin(pairs[:, 1], block))
            local = np.stack([pairs[where, 0], np.searchsorted(block, pairs[where, 1])], axis=1)
            score = functools.partial(_score_batch, adapted, layer, capture, target[rows], mask_tensor, bar)
            with torch_threads(1 if workers > 1 else None):
                batches = list(pool.map(score, np.split(local, range(batch_size, len(local), batch_size))))
            correct[where] = np.concatenate(batches) if batches else []
    return correct, unperturbed


def _score_batch(
    adapted: AdaptedModel,
    layer: str,
    capture: Capture,
    labels: torch.Tensor,
    masks: torch.Tensor,
    bar: tqdm,
    pairs: np.ndarray,
) -> np.ndarray:
    """Correctness of one batch of (mask, local image) pairs, without autograd."""
    with torch.inference_mode():
        return _masked_correct(adapted, layer, capture, labels, (masks, None), pairs, len(pairs), bar)


def trapezoid_auc(pcts: Sequence[float] | np.ndarray, values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Trapezoid area under ``values`` over the percentages on a linear axis, sorted by percentage
    (the reference's ``compute_auc``); units: ratio x percent."""
    x = np.asarray(pcts, dtype=float)
    order = np.argsort(x)
    return np.trapezoid(np.take(np.asarray(values, dtype=float), order, axis=axis), x[order], axis=axis)


def ratio_summary(curves: xr.Dataset, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> xr.Dataset:
    """Mean ratio curves, areas and layer scores of :func:`reference_control_curves` results.

    Parameters
    ----------
    curves : xarray.Dataset
        Output of :func:`reference_control_curves`.
    n_bootstrap : int
        Resamples of the trials (with replacement, within each percentage, the same for every
        selection and intervention).
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the percentile intervals.

    Returns
    -------
    xarray.Dataset
        ``ratio_mean`` and ``ratio_sem`` (selection, intervention, pct, role): perturbed over
        original accuracy per trial, mean over the trials whose original accuracy is above 0 (the
        reference's NumPy division leaves out 0 / 0 by ``nanmean``, but lets a trial whose accuracy
        rises from 0 give an infinite ratio and an infinite mean; here it is left out too) and its
        standard error; ``auc`` (selection, intervention,
        role) by :func:`trapezoid_auc`; ``score`` (selection, intervention) ``(auc_target -
        auc_off_target) / auc_off_target``; ``score_gap`` (intervention): contribution minus
        activation score; ``score_vs_random`` (selection, intervention): score minus the random
        channels' score. Each of the last three has ``_low`` and ``_high`` bootstrap bounds.
        ``n_undefined`` (pct, role): trials whose original accuracy is 0.
    """
    accuracy = curves["accuracy"].transpose("selection", "intervention", "pct", "trial", "role").values
    original = curves["original"].transpose("pct", "trial", "role").values
    ratio = accuracy_ratio(accuracy, original)
    pcts = curves["pct"].values
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, ratio.shape[3], size=(n_bootstrap, *ratio.shape[2:4]))
    resampled = np.take_along_axis(ratio[None], draws[:, None, None, :, :, None], axis=4)
    stacked = np.concatenate([ratio[None], resampled])  # (resample, selection, intervention, pct, trial, role)
    with np.errstate(invalid="ignore", divide="ignore"), _quiet():
        mean = np.nanmean(stacked, axis=4)
        auc = trapezoid_auc(pcts, mean, axis=3)
        score = (auc[..., 0] - auc[..., 1]) / auc[..., 1]
        finite = np.isfinite(ratio)
        sem = np.nanstd(np.where(finite, ratio, np.nan), axis=3, ddof=1) / np.sqrt(finite.sum(3))
    selections = list(curves["selection"].values)
    dims = ("selection", "intervention")
    alpha = (1 - level) / 2
    data = {
        "ratio_mean": (("selection", "intervention", "pct", "role"), mean[0]),
        "ratio_sem": (("selection", "intervention", "pct", "role"), sem),
        "auc": (("selection", "intervention", "role"), auc[0]),
        **_interval("score", score, dims, alpha),
        "n_undefined": (("pct", "role"), (original == 0).sum(1)),
    }
    with np.errstate(invalid="ignore"):  # an off-target AUC of 0 gives an infinite or undefined score
        if {"contribution", "activation"} <= set(selections):
            gap = score[:, selections.index("contribution")] - score[:, selections.index("activation")]
            data.update(_interval("score_gap", gap, dims[1:], alpha))
        if "random" in selections:
            data.update(_interval("score_vs_random", score - score[:, [selections.index("random")]], dims, alpha))
    return xr.Dataset(
        data,
        coords={
            "selection": selections,
            "intervention": list(curves["intervention"].values),
            "pct": pcts,
            "role": list(curves["role"].values),
            "n_channels": ("pct", curves["n_channels"].values),
        },
        attrs={
            **curves.attrs,
            "kind": "reference_control_summary",
            "n_bootstrap": int(n_bootstrap),
            "level": float(level),
            "seed": int(seed),
        },
    )


def _interval(name: str, values: np.ndarray, dims: tuple[str, ...], alpha: float) -> dict:
    """``name`` (resample 0, the data) with ``name_low`` / ``name_high`` percentile bounds over the
    bootstrap resamples (first axis of ``values``)."""
    draws = values[1:]
    with _quiet():
        return {
            name: (dims, values[0]),
            f"{name}_low": (dims, np.nanquantile(draws, alpha, axis=0)),
            f"{name}_high": (dims, np.nanquantile(draws, 1 - alpha, axis=0)),
        }


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence NumPy's warnings about all-NaN slices (a resample or a percentage without defined
    ratios gives NaN, kept as such)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
