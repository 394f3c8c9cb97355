"""The layers the ImageNet analyses visit by default, with short aliases, per zoo model.

* ResNet-50: the output of every bottleneck block, ``block1`` .. ``block16`` (``layer1.0`` ..
  ``layer4.2``), as the paper's layer-by-layer analysis.
* EfficientNet-Lite0 and -Lite2: the output of every MBConv block, ``block1`` .. ``block16``
  (Lite2: .. ``block21``), ``blocks.0`` .. of :func:`retinacodec.models.zoo.efficientnet_chain`
  (signed: batch norm plus the skip). Besides them, where zero is a channel's resting state: the
  block's post-ReLU6 tensors ``blockk_expand`` (after the expansion; not in ``block1``, which does
  not expand) and ``blockk_depthwise`` (after the depthwise convolution), and ``head``, the
  1280-channel head after ReLU6 that feeds the pooling and the classifier (the analogue of
  ResNet-50's last block). :func:`default_layers` gives the block outputs only.
* ViT-B/16, per encoder block ``i`` = 1 .. 12: its output ``blocki`` (token features, 768
  channels); the MLP hidden units ``mlpi`` (the GELU output that feeds the second linear layer,
  3072 channels); and the attention output grouped by head, ``headsi`` (12 channels, the heads
  of :class:`retinacodec.models.zoo.HeadwiseAttention`). Contributions sum over tokens (and over a
  head's dimensions); ``headsi_patches`` leaves the class token out of the sum and of the path.
* Any other classifier, by its structure (:func:`structural_aliases`): a torchvision ResNet's
  bottleneck or basic blocks ``block1`` .. (``layer1.0`` ..); a torchvision ViT's blocks, MLPs and
  heads as ViT-B/16's; else the children of its trunk (``features``, ``blocks``, ``stages``,
  ``layers`` or ``trunk_output``, as torchvision's and timm's CNNs and timm's ViTs name it), ``block1`` ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

from ....errors import RetinaCodecError

_VIT_BLOCKS = 12
_VIT_KINDS = (
    ("block{}", ""),
    ("mlp{}", ".mlp.1"),
    ("heads{}", ".self_attention.head_outputs"),
    ("heads{}_patches", ".self_attention.patch_head_outputs"),
)
"""(alias pattern, module path inside encoder block i) of each kind of ViT layer."""


def _resnet50() -> dict[str, str]:
    return _resnet((3, 4, 6, 3))


def _resnet(depths: tuple[int, ...]) -> dict[str, str]:
    blocks = [f"layer{stage}.{i}" for stage, n in enumerate(depths, start=1) for i in range(n)]
    return {f"block{k}": name for k, name in enumerate(blocks, start=1)}


def _efficientnet_lite(n_blocks: int) -> dict[str, str]:
    blocks = {f"block{k + 1}": f"blocks.{k}" for k in range(n_blocks)}
    inside = {
        f"block{k + 1}_{stage}": f"blocks.{k}.{stage}"
        for k in range(n_blocks)
        for stage in ("expand", "depthwise")
        if k or stage != "expand"  # the first block does not expand
    }
    return {**blocks, **inside, "head": "head"}


def _vit_b_16(n_blocks: int = _VIT_BLOCKS) -> dict[str, str]:
    return {
        alias.format(i + 1): f"encoder.layers.encoder_layer_{i}{suffix}"
        for alias, suffix in _VIT_KINDS
        for i in range(n_blocks)
    }


_ALIASES: dict[str, Callable[[], dict[str, str]]] = {
    "resnet50": _resnet50,
    "efficientnet_lite0": functools.partial(_efficientnet_lite, 16),
    "efficientnet_lite2": functools.partial(_efficientnet_lite, 21),
    "vit_b_16": _vit_b_16,
}


TRUNKS = ("features", "blocks", "stages", "layers", "trunk_output")
"""Names of the module whose children are a classifier's blocks, tried in this order."""


def structural_aliases(module: nn.Module) -> dict[str, str]:
    """Alias -> dotted module name of a classifier's blocks, read from its structure.

    A torchvision ResNet (``layer1`` .. ``layer4``): its blocks. A torchvision ViT
    (``encoder.layers``, with :class:`~retinacodec.models.zoo.HeadwiseAttention`): blocks, MLPs and
    heads as for ViT-B/16. Else the children of the first of :data:`TRUNKS` that is a sequence of
    modules. Empty when none of these fits.
    """
    names = dict(module.named_modules())
    stages = [names.get(f"layer{k}") for k in range(1, 5)]
    if all(isinstance(stage, nn.Sequential) for stage in stages):
        return _resnet(tuple(len(stage) for stage in stages))  # type: ignore[arg-type]  # checked above
    if isinstance(names.get("encoder.layers"), nn.Sequential) and "encoder.layers.encoder_layer_0" in names:
        return _vit_b_16(len(names["encoder.layers"]))
    trunk = next((t for t in TRUNKS if isinstance(names.get(t), (nn.Sequential, nn.ModuleList))), None)
    if trunk is None:
        return {}
    return {f"block{k}": f"{trunk}.{child}" for k, (child, _) in enumerate(names[trunk].named_children(), start=1)}


def layer_aliases(model: str, module: nn.Module | None = None) -> dict[str, str]:
    """Alias -> dotted module name of the named layers of a classifier (for ``adapt(layers=...)``):
    the tables above for the packaged models, ResNet-50 and ViT-B/16, else the ``module``'s
    :func:`structural_aliases` (empty without a module)."""
    if model in _ALIASES:
        return _ALIASES[model]()
    return {} if module is None else structural_aliases(module)


def default_layers(model: str, class_token: bool = True, module: nn.Module | None = None) -> list[str]:
    """The aliases of the layers analysed by default, in network order (ViT: kind by kind).

    Parameters
    ----------
    model : str
        A model name (:func:`retinacodec.models.zoo.load_classifier`).
    class_token : bool
        ViT only: include the class token in the per-head attention outputs (``headsi``) or not
        (``headsi_patches``).
    module : torch.nn.Module, optional
        The network, whose structure gives the layers of models without a table
        (:func:`structural_aliases`).

    Returns
    -------
    list of str

    Raises
    ------
    RetinaCodecError
        For a model without default layers (name the layers then), or ``class_token=False`` for a
        model without tokens.
    """
    aliases = layer_aliases(model, module)
    if not aliases:
        names = [] if module is None else [name for name, _ in module.named_modules()][1:6]
        known = f" (its modules: {', '.join(names)}, ...)" if names else ""
        raise RetinaCodecError(
            f"{model} has no default layers; expected the layers named (--layers NAME ..., dotted module names){known}"
        )
    if not any(alias.startswith("heads") for alias in aliases):
        if not class_token:
            raise RetinaCodecError(f"class_token=False applies to ViTs only; {model} has no class token")
        return [a for a in aliases if "_" not in a and a != "head"]  # block outputs
    return [a for a in aliases if not a.startswith("heads") or a.endswith("_patches") != class_token]
