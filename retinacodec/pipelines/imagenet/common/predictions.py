"""Top-1 predictions of a classifier on the center views of an image source."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from ...._progress import progress_bar
from ....device import resolve_device
from .images import ImageSource, Views


def predict(
    module: nn.Module, views: Views, batch_size: int = 64, device: str | torch.device = "cpu", progress: bool = True
) -> np.ndarray:
    """Top-1 class of the center view of every image.

    Parameters
    ----------
    module : torch.nn.Module
        A classifier (eval mode), outputs (image, class) logits; on ``device`` for the call.
    views : Views
        The images (only their center views are used).
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        int64 (image,) predicted class indices.
    """
    device = resolve_device(device)
    positions = views.center()
    predicted = []
    module.to(device)
    try:
        with torch.no_grad():
            for start in progress_bar(
                range(0, len(positions), batch_size), desc="top-1", unit="batch", progress=progress
            ):
                inputs = views.load(positions[start : start + batch_size]).to(device)
                predicted.append(module(inputs).argmax(1).cpu().numpy())
    finally:
        module.to("cpu")
    return np.concatenate(predicted)


def labelled(predicted: np.ndarray, source: ImageSource) -> xr.Dataset:
    """Predictions beside the labels of their images.

    Parameters
    ----------
    predicted : numpy.ndarray
        (image,) predicted class indices, in the order of ``source.paths``.
    source : ImageSource
        The images.

    Returns
    -------
    xarray.Dataset
        ``predicted``, ``true_class``, ``correct`` (int8) and ``file`` (the file name) along
        ``image``; attrs ``images`` (the source's description, with the label mapping used).
    """
    truth = np.asarray(source.labels)
    return xr.Dataset(
        {
            "predicted": ("image", np.asarray(predicted)),
            "true_class": ("image", truth),
            "correct": ("image", (np.asarray(predicted) == truth).astype(np.int8)),
            "file": ("image", [p.name for p in source.paths]),
        },
        coords={"image": np.arange(truth.size)},
        attrs={"images": source.description},
    )


def top1_accuracy(predictions: xr.Dataset) -> float:
    """Fraction of images whose top-1 class is their label."""
    return float(predictions["correct"].mean())


def top1(
    model: str,
    images,
    labels=None,
    weights=None,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> xr.Dataset:
    """Top-1 predictions of a zoo classifier on an image source (its evaluation preprocessing).

    Parameters
    ----------
    model : str
        Zoo model name.
    images, labels
        As for :func:`retinacodec.pipelines.imagenet.common.images.find_images`.
    weights : str or path-like, optional
        Local state_dict file.
    batch_size : int, optional
        Images per forward pass (default :data:`retinacodec.models.zoo.FORWARD_BATCH_SIZE`).
    seed : int
        Seed of a random initialisation (no weights).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        As :func:`labelled`, with attrs ``accuracy`` and ``model``.
    """
    from ....models.zoo import FORWARD_BATCH_SIZE, load_classifier, model_spec
    from .images import find_images

    source = find_images(images, labels)
    views = Views(source, model_spec(model).preprocessing, 0, seed)
    predicted = predict(
        load_classifier(model, weights, seed), views, batch_size or FORWARD_BATCH_SIZE, device, progress
    )
    result = labelled(predicted, source)
    return result.assign_attrs(accuracy=top1_accuracy(result), model=model)
