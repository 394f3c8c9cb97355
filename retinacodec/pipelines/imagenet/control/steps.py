"""The computations of the ImageNet control analysis's steps; each returns ``{output name: result}``
for a :class:`~retinacodec.io.resumable.Workspace`.

Every function calls the library's own stages (contributions, SAE modes, statistics, control
curves); this module only chooses their inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ....attribution.ig import contributions
from ....attribution.options import AttributionOptions
from ....control.curves.classifier import classifier_control_curves, curve_summary
from ....errors import RetinaCodecError
from ....models.adapter import AdaptedModel
from ....modes.compare import VARIABLES
from ....modes.sae import SAE
from ....modes.selection import associated_mode, channel_weights
from ....modes.workflow import fit_modes
from ..common.images import Views
from ..common.layers import default_layers
from ..common.predictions import labelled, predict
from ..common.statistics import layer_statistics
from .settings import ControlSettings


def spread_layers(model: str, n_layers: int, module: torch.nn.Module | None = None) -> list[str]:
    """``n_layers`` of the model's default layers (of ``module``'s structure for a model without a
    table) spread evenly over the depth, first and last included."""
    layers = default_layers(model, module=module)
    picks = np.unique(np.round(np.linspace(0, len(layers) - 1, min(n_layers, len(layers)))).astype(int))
    return [layers[i] for i in picks]


def predictions(
    module: torch.nn.Module, views: Views, settings: ControlSettings, progress: bool, device: torch.device
) -> dict:
    """Top-1 class of every held-out image (:func:`~retinacodec.pipelines.imagenet.common.predictions.labelled`)."""
    return {
        "predictions": labelled(
            predict(module, views, batch_size=settings.batch_size, device=device, progress=progress), views.source
        )
    }


def fit_contributions(
    adapted: AdaptedModel,
    views: Views,
    layers: list[str],
    images: range,
    settings: ControlSettings,
    progress: bool,
    device: torch.device,
) -> dict:
    """Input-path contributions to the top logit and activations, split by sign, of every layer
    in one pass, for the fit images ``images``: ``contributions_<layer>`` (sample, channel, sign)."""
    inputs = views.load(views.center(images))
    results = contributions(
        adapted,
        inputs,
        layers,
        target="top",
        n_steps=settings.ig_steps,
        method=settings.ig_rule,
        batch_size=settings.ig_batch_size,
        device=device,
        options=AttributionOptions(path="input", split="sign", progress=progress),
    )
    labels = np.asarray(views.source.labels)[list(images)]
    coords = {"sample": pd.Index(list(images), name="sample"), "true_class": ("sample", labels)}
    return {
        f"contributions_{layer}": ds.drop_vars(["sample", "image"]).assign_coords(coords)
        for layer, ds in results.items()
    }


def layer_modes(data: xr.Dataset, settings: ControlSettings, progress: bool, device: torch.device) -> dict:
    """SAE modes of a layer's contributions and of its activations, with their mode-class
    correlations and the layer's statistics (the seed's table)."""
    outputs: dict[str, SAE | xr.Dataset] = {}
    fits: dict[str, xr.Dataset] = {}
    for variable in VARIABLES:
        sae, result = fit_modes(
            data,
            labels="true_class",
            label_threshold=settings.label_threshold,
            stability_fits=settings.stability_fits,
            variable=variable,
            epochs=settings.sae_epochs,
            seed=settings.seed,
            batch_size=min(128, data.sizes["sample"]),
            device=str(device),
            progress=progress,
        )
        outputs[f"sae_{variable}"], outputs[f"modes_{variable}"] = sae, result
        fits[variable] = result
    outputs["statistics"] = layer_statistics(data, fits)
    return outputs


def rankings(
    saes: dict[str, SAE],
    fits: dict[str, xr.Dataset],
    fit_labels: np.ndarray,
    classes: np.ndarray,
    settings: ControlSettings,
) -> xr.DataArray:
    """Channel rankings (ranking, rank), strongest first: for each class, the channels of the
    contribution mode and of the activation mode most correlated with the class on the fit images
    (weight :math:`\\sum_s |d_{mcs}|`); then ``n_random_draws`` random permutations (class -1)."""
    rows, selection, target, mode = [], [], [], []
    for variable in VARIABLES:
        weights = channel_weights(saes[variable]).values
        for label in classes:
            best = associated_mode(fits[variable]["loadings"], fit_labels, label)
            rows.append(np.argsort(-weights[best], kind="stable"))
            selection.append(variable)
            target.append(int(label))
            mode.append(best)
    rng = np.random.default_rng([settings.seed, 2])
    for _ in range(settings.n_random_draws):
        rows.append(rng.permutation(len(rows[0])))
        selection.append("random")
        target.append(-1)
        mode.append(-1)
    return xr.DataArray(
        np.array(rows),
        dims=("ranking", "rank"),
        coords={"selection": ("ranking", selection), "target_class": ("ranking", target), "mode": ("ranking", mode)},
        name="channel",
    )


def image_sets(order: xr.DataArray, labels: np.ndarray, settings: ControlSettings) -> xr.DataArray:
    """Held-out images each ranking is scored on (ranking, image): for a class's rankings, up to
    ``n_target_images`` of the class and ``n_off_target_images`` of the others (spread evenly over
    them), the same for contribution and activation; for random rankings ``n_random_images``
    spread over all classes."""
    classes = np.unique(labels)
    chosen = np.zeros((order.sizes["ranking"], labels.size), dtype=bool)
    for r, label in enumerate(order["target_class"].values):
        rng = np.random.default_rng([settings.seed, 3, int(label) + 1])
        if label >= 0:
            picks = _spread(rng, labels, [label], settings.n_target_images)
            picks += _spread(rng, labels, classes[classes != label], settings.n_off_target_images)
        else:
            picks = _spread(rng, labels, classes, settings.n_random_images)
        chosen[r, picks] = True
    return xr.DataArray(chosen, dims=("ranking", "image"))


def _spread(rng: np.random.Generator, labels: np.ndarray, classes, total: int) -> list[int]:
    """A seeded draw of about ``total`` images, as evenly over ``classes`` as they allow."""
    per_class = max(1, total // len(classes))
    picks = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        picks += rng.choice(members, min(per_class, members.size), replace=False).tolist()
    return picks


def fit_means(adapted: AdaptedModel, layer: str, images: torch.Tensor, fit_activation: xr.DataArray) -> np.ndarray:
    """(channel,) mean of each channel of ``layer`` over the fit images and positions, from their
    activations summed over space (``fit_activation`` (sample, channel[, sign])); ``images`` (one
    held-out image suffices) give the number of positions."""
    with torch.no_grad():
        output = adapted.capture(images[:1], layer, stop=True).activation
    n_channels = output.shape[adapted.channel_axis(layer, output)]
    total = fit_activation.sum("sign") if "sign" in fit_activation.dims else fit_activation
    return total.mean("sample").values.astype(np.float64) / (output[0].numel() / n_channels)


def layer_control(
    adapted: AdaptedModel,
    layer: str,
    images: torch.Tensor,
    labels: np.ndarray,
    modes: dict,
    fit_labels: np.ndarray,
    settings: ControlSettings,
    progress: bool,
    fit_activation: xr.DataArray | None = None,
) -> dict:
    """Control curves of one layer on the held-out images (on the device of ``adapted`` and
    ``images``; :func:`summarize` gives their summary); with ``settings.ablation == "mean"`` silenced
    channels take their means over the fit images (:func:`fit_means` of ``fit_activation``)."""
    ablation: str | np.ndarray = "zero"
    if settings.ablation == "mean":
        if fit_activation is None:
            raise RetinaCodecError("a mean ablation needs the fit images' activations; expected fit_activation")
        ablation = fit_means(adapted, layer, images, fit_activation)
    classes = np.unique(labels)
    fits = {v: modes[f"modes_{v}"] for v in VARIABLES}
    order = rankings({v: modes[f"sae_{v}"] for v in VARIABLES}, fits, fit_labels, classes, settings)
    sets = image_sets(order, labels, settings)
    curves = classifier_control_curves(
        adapted,
        images,
        labels,
        layer,
        order,
        settings.fractions,
        sets,
        batch_size=4 * settings.batch_size,
        ablation=ablation,
        progress=progress,
    )
    curves.attrs["protocol"] = settings.protocol
    return {"curves": curves}


def summarize(curves: xr.Dataset, settings: ControlSettings) -> xr.Dataset:
    """The summary of a layer's control curves with bootstrap intervals (``n_bootstrap``, ``seed``)."""
    return curve_summary(curves, settings.n_bootstrap, settings.seed)
