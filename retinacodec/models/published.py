"""Classifiers and weights that torchvision and timm publish: their names, named weights, the
preprocessing and categories that go with them, and the files their own loaders cache.

A model name is a torchvision classification model (``torchvision.models.list_models(
module=torchvision.models)``: ``resnet50``, ``vit_b_16``, ``convnext_tiny`` ...), or a timm model
written ``timm:NAME`` (``timm:resnet50.a1_in1k``); a name torchvision does not know is looked up
in timm too when timm is installed, so ``timm:`` is needed only where both know a name. Named
weights load only through torchvision's and timm's own loaders, into the user's caches
(``$TORCH_HOME/hub/checkpoints`` for torchvision).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .._optional import require
from ..errors import RetinaCodecError
from .preprocessing import Preprocessing, from_timm_config, from_transforms

TIMM_PREFIX = "timm:"
DEFAULT = "DEFAULT"
"""The weight name of a model's recommended published weights (torchvision's ``DEFAULT``; for
timm, the pretrained weights of the name's tag)."""
_HASH = re.compile(r"-([a-f0-9]+)\.")
"""The SHA-256 prefix in a published torchvision file name (``resnet50-11ad3fa6.pth``)."""


@functools.cache
def torchvision_names() -> tuple[str, ...]:
    """torchvision's classification model names."""
    torchvision = require("torchvision", "imagenet", "torchvision's classifiers")
    return tuple(torchvision.models.list_models(module=torchvision.models))


def library_of(name: str) -> tuple[str, str]:
    """``("torchvision" or "timm", the library's own name)`` of a model name.

    Raises
    ------
    RetinaCodecError
        For a name neither library knows (the message says where to find valid ones), or a
        ``timm:`` name without timm installed.
    """
    if name.startswith(TIMM_PREFIX):
        timm = require("timm", "timm", f"the timm model {name!r}")
        bare = name.removeprefix(TIMM_PREFIX)
        if not timm.is_model(bare):
            raise RetinaCodecError(f"unknown timm model {bare!r}; expected a name of timm.list_models()")
        return "timm", bare
    if name in torchvision_names():
        return "torchvision", name
    if importlib.util.find_spec("timm") is not None and require("timm", "timm", "timm's models").is_model(name):
        return "timm", name
    raise RetinaCodecError(
        f"unknown model {name!r}; expected efficientnet_lite0, efficientnet_lite2, a torchvision classifier "
        f"({', '.join(torchvision_names()[:4])}, ...: torchvision.models.list_models(module=torchvision.models)) "
        "or a timm model (timm:NAME, with timm installed)"
    )


def _weights_enum(model: str) -> Any:
    return require("torchvision", "imagenet", "torchvision's weights").models.get_model_weights(model)


def first_weight(model: str) -> Any:
    """The first published torchvision weights of ``model`` (``IMAGENET1K_V1`` where there is one)."""
    return next(iter(_weights_enum(model)))


def weight_names(model: str) -> list[str]:
    """The torchvision weight names of ``model`` (``IMAGENET1K_V1``, ``IMAGENET1K_V2``, ..., ``DEFAULT``)."""
    return [*(w.name for w in _weights_enum(model)), DEFAULT]


def torchvision_weight(model: str, name: str) -> Any:
    """torchvision's weights ``name`` of ``model``, or None when ``name`` is not a weight name.

    ``name`` is ``DEFAULT``, a member (``IMAGENET1K_V2``) or its qualified name
    (``ResNet50_Weights.IMAGENET1K_V2``).

    Raises
    ------
    RetinaCodecError
        For a qualified name of another model's weights, or of a member the model lacks.
    """
    enum = _weights_enum(model)
    prefix, dot, member = name.rpartition(".")
    if dot and prefix.endswith("_Weights"):
        if prefix != enum.__name__ or member not in enum.__members__:
            raise RetinaCodecError(
                f"weights {name!r} are not {model}'s; expected one of "
                f"{', '.join(f'{enum.__name__}.{w}' for w in weight_names(model))}"
            )
        return enum[member]
    return enum[name] if name in enum.__members__ else None


def cached_file(weight: Any) -> Path:
    """Where torchvision's loader caches the file of ``weight`` (``$TORCH_HOME/hub/checkpoints/NAME``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weight.url).path)


def sha256(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_of_digest(model: str, digest: str) -> Any:
    """The torchvision weights of ``model`` whose published file has this SHA-256 (its file name
    carries the digest's prefix), or None."""
    for weight in _weights_enum(model):
        match = _HASH.search(os.path.basename(urlparse(weight.url).path))
        if match and digest.startswith(match.group(1)):
            return weight
    return None


def weight_preprocessing(weight: Any) -> Preprocessing:
    """The evaluation preprocessing of torchvision weights (``weight.transforms()``)."""
    return from_transforms(weight.transforms())


def preprocessing_by_name(model: str, name: str) -> tuple[Preprocessing, str] | None:
    """(preprocessing, its source) of a torchvision weight name: one of ``model``'s (none when
    ``model`` is ``""``), or any model's qualified name (``ViT_B_16_Weights.IMAGENET1K_V1``); None
    for a name that is neither."""
    torchvision = require("torchvision", "imagenet", "torchvision's weights")
    if "_Weights." in name:
        try:
            weight = torchvision.models.get_weight(name)
        except (ValueError, KeyError, AttributeError):
            raise RetinaCodecError(
                f"unknown torchvision weights {name!r}; expected a name such as ResNet50_Weights.IMAGENET1K_V2"
            ) from None
    else:
        weight = torchvision_weight(model, name) if model else None
    if weight is None:
        return None
    return weight_preprocessing(weight), f"{type(weight).__name__}.{weight.name}.transforms()"


def timm_preprocessing(module: Any) -> Preprocessing:
    """The evaluation preprocessing of a timm model's pretrained config (``resolve_data_config``)."""
    data = require("timm.data", "timm", "timm's data config")
    return from_timm_config(data.resolve_data_config({}, model=module))


def timm_categories(module: Any) -> tuple[str, ...] | None:
    """Class names of a timm model whose classes are an ImageNet subset timm knows, else None."""
    data = require("timm.data", "timm", "timm's class names")
    subset = data.infer_imagenet_subset(module)
    return tuple(data.ImageNetInfo(subset).label_descriptions()) if subset else None


def fetch_error(what: str, exc: Exception, where: str) -> RetinaCodecError:
    """The one-line error for weights a library's loader could not fetch or read."""
    return RetinaCodecError(
        f"cannot load {what} ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
        f"expected network access for the first download, or the published file in {where}"
    )
