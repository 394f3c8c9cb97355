"""Top-1 predictions of a classifier on the center views of an image source."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from ...._progress import progress_bar
from ....device import resolve_device
from ....errors import RetinaCodecError
from ....models.classifier import Classifier
from ....models.preprocessing import Preprocessing
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
    model: str | Classifier,
    images,
    labels=None,
    weights=None,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    preprocessing: str | Preprocessing | None = None,
) -> xr.Dataset:
    """Top-1 predictions of a classifier on an image source (its evaluation preprocessing).

    Parameters
    ----------
    model : str or Classifier
        A model name (:func:`retinacodec.models.zoo.open_classifier`), or a network with its
        preprocessing.
    images, labels
        As for :func:`retinacodec.pipelines.imagenet.common.images.find_images`.
    weights : str or path-like, optional
        A weight name (``IMAGENET1K_V2``, ``DEFAULT``) or a local state_dict file (named models only).
    batch_size : int, optional
        Images per forward pass (default :data:`retinacodec.models.zoo.FORWARD_BATCH_SIZE`).
    seed : int
        Seed of a random initialisation (no weights).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress : bool
        Show a progress bar.
    preprocessing : str or Preprocessing, optional
        The preprocessing a weights file assumes (named models only; see
        :func:`~retinacodec.models.zoo.open_classifier`).

    Returns
    -------
    xarray.Dataset
        As :func:`labelled`, with attrs ``accuracy`` and the classifier's
        :meth:`~retinacodec.models.classifier.Classifier.record` (``model``, ``weights``,
        ``preprocessing`` ...).
    """
    from ....models.zoo import FORWARD_BATCH_SIZE
    from .images import find_images

    classifier = resolve_classifier(model, weights, preprocessing, seed)
    source = find_images(images, labels)
    views = Views(source, classifier.preprocessing, 0, seed)
    predicted = predict(classifier.module, views, batch_size or FORWARD_BATCH_SIZE, device, progress)
    result = labelled(predicted, source)
    return result.assign_attrs(accuracy=top1_accuracy(result), **classifier.record())


def resolve_classifier(
    model: str | Classifier,
    weights=None,
    preprocessing: str | Preprocessing | None = None,
    seed: int = 0,
    module: torch.nn.Module | None = None,
) -> Classifier:
    """The classifier an analysis runs: a :class:`Classifier` given as ``model`` or as ``weights``,
    or the named ``model`` with ``weights`` and ``preprocessing`` loaded by
    :func:`~retinacodec.models.zoo.open_classifier` (reusing ``module`` when it is already built).

    Raises
    ------
    RetinaCodecError
        For ``preprocessing`` (or weights) given beside a :class:`Classifier` (it carries its own),
        and as :func:`~retinacodec.models.zoo.open_classifier`.
    """
    from ....models.zoo import open_classifier

    given = [x for x in (model, weights) if isinstance(x, Classifier)]
    if given:
        if preprocessing is not None or (isinstance(model, Classifier) and weights is not None):
            raise RetinaCodecError(
                "weights or preprocessing given beside a Classifier; expected them inside the Classifier "
                "(its module's weights and its preprocessing)"
            )
        return given[0]
    assert isinstance(model, str)  # a Classifier was returned above
    return open_classifier(model, weights, preprocessing, seed, module=module)


def describe_classifier(classifier: Classifier) -> str:
    """One line for logs: the model, its weights and its preprocessing with where it came from."""
    origin = classifier.origin
    return (
        f"{classifier.name}: weights {origin['weights']}; preprocessing {classifier.preprocessing.describe()} "
        f"({origin['preprocessing_source']})"
    )


def weights_key(classifier: Classifier) -> str:
    """What names a classifier's weights in a run's fingerprint: the SHA-256 of its weights file,
    else (a network given as it is) its class and the digest of its state."""
    from ....parallel.contributions import GivenModel

    if classifier.origin["weights_sha256"] or not classifier.origin["pretrained"]:
        return classifier.origin["weights_sha256"]
    return GivenModel.of(classifier.module).key
