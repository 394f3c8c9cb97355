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
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ....errors import RetinaCodecError
from ....models.zoo import model_spec

_VIT_BLOCKS = 12
_VIT_KINDS = (
    ("block{}", ""),
    ("mlp{}", ".mlp.1"),
    ("heads{}", ".self_attention.head_outputs"),
    ("heads{}_patches", ".self_attention.patch_head_outputs"),
)
"""(alias pattern, module path inside encoder block i) of each kind of ViT layer."""


def _resnet50() -> dict[str, str]:
    blocks = [f"layer{stage}.{i}" for stage, n in zip((1, 2, 3, 4), (3, 4, 6, 3)) for i in range(n)]
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


def _vit_b_16() -> dict[str, str]:
    return {
        alias.format(i + 1): f"encoder.layers.encoder_layer_{i}{suffix}"
        for alias, suffix in _VIT_KINDS
        for i in range(_VIT_BLOCKS)
    }


_ALIASES: dict[str, Callable[[], dict[str, str]]] = {
    "resnet50": _resnet50,
    "efficientnet_lite0": functools.partial(_efficientnet_lite, 16),
    "efficientnet_lite2": functools.partial(_efficientnet_lite, 21),
    "vit_b_16": _vit_b_16,
}


def layer_aliases(model: str) -> dict[str, str]:
    """Alias -> dotted module name of the named layers of a zoo model (for ``adapt(layers=...)``)."""
    model_spec(model)
    return _ALIASES[model]()


def default_layers(model: str, class_token: bool = True) -> list[str]:
    """The aliases of the layers analysed by default, in network order (ViT: kind by kind).

    Parameters
    ----------
    model : str
        A zoo model name.
    class_token : bool
        ViT only: include the class token in the per-head attention outputs (``headsi``) or not
        (``headsi_patches``).

    Returns
    -------
    list of str

    Raises
    ------
    RetinaCodecError
        For an unknown model, or ``class_token=False`` for a model without tokens.
    """
    aliases = layer_aliases(model)
    if model != "vit_b_16":
        if not class_token:
            raise RetinaCodecError(f"class_token=False applies to vit_b_16 only; {model} has no class token")
        return [a for a in aliases if "_" not in a and a != "head"]  # block outputs
    return [a for a in aliases if not a.startswith("heads") or a.endswith("_patches") != class_token]
