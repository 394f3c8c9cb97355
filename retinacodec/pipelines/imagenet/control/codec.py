"""The steps of the ``codec`` protocol: the control analysis as the paper's reference code runs it.

Contributions come from :func:`~retinacodec.pipelines.imagenet.control.steps.fit_contributions`
with the reference's rule (``activation_trapezoid``: zero baseline, top logit, trapezoid in the
layer's activation). Here: the SAE of each layer fitted on the positive parts only (C features,
divided by their global standard deviation) with the reference's settings where the estimator can
follow them (:data:`SAE_PARAMS`); the mode of a class chosen by rank among the live modes sorted
by the correlation of their codes with the class; channels ranked by the signed atom; and the
ratio curves, areas and scores of :mod:`retinacodec.control.curves.reference`.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ....control.curves.reference import (
    draw_trials,
    ranked_mode,
    ratio_summary,
    reference_control_curves,
    signed_ranking,
)
from ....errors import RetinaCodecError
from ....models.adapter import AdaptedModel
from ....modes.compare import VARIABLES
from ....modes.sae import SAE
from ....modes.workflow import fit_modes
from ..common.statistics import layer_statistics
from .settings import ControlSettings

SAE_PARAMS = {
    "active_codes": "sigmoid",
    "l1": 5e-5,
    "l1_on": "dictionary",
    "nonnegative": False,
    "lr": 5e-5,
    "early_stopping": False,
    "resample_dead": False,
}
"""The reference's SAE (``preprocessing/3a_train_saes_resnet.py``) as :class:`~retinacodec.modes.SAE`
parameters: sigmoid codes above a hard threshold, 3 x C atoms (the default), a signed dictionary,
L1 on the mean absolute atom entry, Adam at a fixed learning rate, every epoch run."""
SAE_BATCH_SIZE = 128
"""Samples per SAE step in the reference (fewer when a layer has fewer fit images)."""
SELECTIONS = ("contribution", "activation", "random")


def layer_modes(data: xr.Dataset, settings: ControlSettings, progress: bool, device: torch.device) -> dict:
    """SAE modes of the positive parts of a layer's contributions and of its activations, with
    their mode-class correlations on the fit images, and the layer's statistics.

    Parameters
    ----------
    data : xarray.Dataset
        The layer's fit-image contributions (sample, channel, sign) with a ``true_class`` coord.
    settings : ControlSettings
        ``codec`` gives the epochs and threshold; ``seed`` seeds the fits.
    progress : bool
        Show progress bars.
    device : torch.device
        Where the SAEs train.

    Returns
    -------
    dict
        ``sae_<variable>``, ``modes_<variable>`` (:func:`~retinacodec.modes.workflow.fit_modes`
        results with ``label_correlation`` over the fit classes) and ``statistics``.
    """
    positive = data.sel(sign="pos", drop=True)
    outputs: dict[str, SAE | xr.Dataset] = {}
    fits: dict[str, xr.Dataset] = {}
    for variable in VARIABLES:
        sae, result = fit_modes(
            positive,
            labels="true_class",
            label_threshold=settings.label_threshold,
            stability_fits=0,
            variable=variable,
            threshold=settings.codec.sae_threshold,
            epochs=settings.codec.sae_epochs,
            batch_size=min(SAE_BATCH_SIZE, positive.sizes["sample"]),
            seed=settings.seed,
            device=str(device),
            progress=progress,
            **SAE_PARAMS,
        )
        outputs[f"sae_{variable}"], outputs[f"modes_{variable}"] = sae, result
        fits[variable] = result
    outputs["statistics"] = layer_statistics(data, fits)
    return outputs


def class_ranking(fit: xr.Dataset, label: int, rank: int) -> tuple[np.ndarray, int, float]:
    """The channels of a class's mode, strongest first, as the reference picks them.

    Parameters
    ----------
    fit : xarray.Dataset
        :func:`~retinacodec.modes.workflow.fit_modes` result with ``label_correlation`` (mode,
        label), ``dead_modes`` and ``modes`` (mode, channel).
    label : int
        The class.
    rank : int
        Position of the mode among the live modes sorted by correlation with the class (largest first).

    Returns
    -------
    tuple
        (channel ranking by signed atom entry, the mode's position, its correlation with the class).
    """
    correlation = fit["label_correlation"]
    if label not in correlation["label"].values:
        raise RetinaCodecError(f"class {label} has no fit images; expected held-out classes among the fit classes")
    r = correlation.sel(label=label).values
    mode = ranked_mode(r, fit["dead_modes"].values == 0, rank)
    return signed_ranking(fit["modes"].values[mode]), mode, float(r[mode])


def rankings(fits: dict[str, xr.Dataset], trials: xr.Dataset, settings: ControlSettings, position: int) -> xr.DataArray:
    """Channel rankings (selection, pct, trial, rank): for each trial the ranking of its target
    class's mode, of contributions and of activations, and a random permutation (seeded by ``seed``
    and the layer's ``position``); coords ``mode`` and ``mode_correlation`` (-1 and NaN for random)."""
    targets = trials["trial_class"].sel(role="target").values  # (pct, trial)
    n_channels = fits[VARIABLES[0]].sizes["channel"]
    shape = (len(SELECTIONS), *targets.shape)
    order = np.empty((*shape, n_channels), dtype=np.int64)
    modes = np.full(shape, -1)
    correlations = np.full(shape, np.nan)
    for s, variable in enumerate(VARIABLES):
        chosen = {c: class_ranking(fits[variable], int(c), settings.codec.mode_rank) for c in np.unique(targets)}
        for index in np.ndindex(targets.shape):
            order[(s, *index)], modes[(s, *index)], correlations[(s, *index)] = chosen[targets[index]]
    rng = np.random.default_rng([settings.seed, 4, position])
    for index in np.ndindex(targets.shape):
        order[(len(VARIABLES), *index)] = rng.permutation(n_channels)
    dims = ("selection", "pct", "trial")
    return xr.DataArray(
        order,
        dims=(*dims, "rank"),
        coords={
            "selection": list(SELECTIONS),
            "pct": trials["pct"].values,
            "mode": (dims, modes),
            "mode_correlation": (dims, correlations),
        },
        name="channel",
    )


def layer_trials(labels: np.ndarray, layers: list[str], layer: str, settings: ControlSettings) -> xr.Dataset:
    """The layer's trials (pct, trial, role, slot) from one seeded stream over every (layer, pct),
    layers last to first and percentages in order, as the reference draws them."""
    pcts, c = list(settings.codec.pcts), settings.codec
    everything = draw_trials(labels, len(layers) * len(pcts), c.n_trials, c.n_trial_images, c.trial_seed)
    first = (len(layers) - 1 - layers.index(layer)) * len(pcts)
    block = everything.isel(block=slice(first, first + len(pcts)))
    return block.rename(block="pct").assign_coords(pct=pcts)


def layer_control(
    adapted: AdaptedModel,
    layer: str,
    images: torch.Tensor,
    labels: np.ndarray,
    modes: dict,
    layers: list[str],
    settings: ControlSettings,
    progress: bool,
) -> dict:
    """The reference's ratio curves of one layer on the held-out images (:func:`summarize` gives
    their summary).

    Parameters
    ----------
    adapted : AdaptedModel
        The classifier.
    layer : str
        The layer whose channels are zeroed.
    images : torch.Tensor
        (image, colour, y, x) held-out images, model-ready, on the model's device.
    labels : numpy.ndarray
        (image,) their classes.
    modes : dict
        The layer's :func:`layer_modes` outputs.
    layers : list of str
        Every layer of the run (the trials of all layers come from one stream).
    settings : ControlSettings
        ``codec`` settings, ``batch_size``, ``n_bootstrap`` and ``seed``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``curves`` (:func:`~retinacodec.control.curves.reference.reference_control_curves`).
    """
    trials = layer_trials(labels, layers, layer, settings)
    fits = {v: modes[f"modes_{v}"] for v in VARIABLES}
    order = rankings(fits, trials, settings, layers.index(layer))
    curves = reference_control_curves(
        adapted, images, labels, layer, order, trials, batch_size=4 * settings.batch_size, progress=progress
    )
    curves.attrs["protocol"] = "codec"
    return {"curves": curves}


def summarize(curves: xr.Dataset, settings: ControlSettings) -> xr.Dataset:
    """The reference's ratio curves, areas and layer scores of a layer's curves, with bootstrap
    intervals over the trials (``n_bootstrap``, ``seed``)."""
    return ratio_summary(curves, settings.n_bootstrap, settings.seed)
