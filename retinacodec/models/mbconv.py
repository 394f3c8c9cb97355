"""EfficientNet-Lite's MBConv block with one named module per stage, so that each post-activation
tensor can be addressed.

The ``efficientnet_lite_pytorch`` block applies its single ReLU6 module twice (after the expansion
and after the depthwise convolution), so a hook on that module cannot name one of the two tensors.
:class:`MBConv` runs the same modules (shared, not copied) in the same order, each stage an
``nn.Sequential`` that ends in its own ReLU6: ``expand`` (1x1 conv, batch norm, ReLU6; absent when
the block does not expand), ``depthwise`` (depthwise conv, batch norm, ReLU6) and ``project`` (1x1
conv, batch norm), then the skip connection. The outputs of ``expand`` and ``depthwise`` are the
block's post-ReLU6 tensors, where zero is a channel's resting state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import RetinaCodecError


class MBConv(nn.Module):
    """One MBConv block of EfficientNet-Lite in eval mode, stage by stage.

    Parameters
    ----------
    block : torch.nn.Module
        An ``efficientnet_lite_pytorch`` ``MBConvBlock`` with ReLU6 activations and no
        squeeze-and-excitation (EfficientNet-Lite's blocks); its modules are shared.

    Attributes
    ----------
    expand : torch.nn.Sequential or None
        1x1 expansion conv, batch norm, ReLU6: (N, C_in, H, W) -> (N, C_mid, H, W), in [0, 6].
    depthwise : torch.nn.Sequential
        Depthwise conv, batch norm, ReLU6: (N, C_mid, H, W) -> (N, C_mid, H', W'), in [0, 6].
    project : torch.nn.Sequential
        1x1 projection conv and batch norm: (N, C_mid, H', W') -> (N, C_out, H', W'), signed.
    skip : bool
        Whether the block adds its input to the projection (stride 1 and C_in == C_out).
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        package: Any = block  # efficientnet_lite_pytorch ships no type hints
        if getattr(package, "has_se", True) or not isinstance(getattr(package, "_swish", None), nn.ReLU6):
            raise RetinaCodecError(
                f"cannot rebuild a {type(block).__name__}; expected an EfficientNet-Lite MBConvBlock "
                "(ReLU6 activations, no squeeze-and-excitation)"
            )
        args = package._block_args
        self.expand = nn.Sequential(package._expand_conv, package._bn0, nn.ReLU6()) if args.expand_ratio != 1 else None
        self.depthwise = nn.Sequential(package._depthwise_conv, package._bn1, nn.ReLU6())
        self.project = nn.Sequential(package._project_conv, package._bn2)
        self.skip = bool(package.id_skip and args.stride == 1 and args.input_filters == args.output_filters)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs if self.expand is None else self.expand(inputs)
        x = self.project(self.depthwise(x))
        return x + inputs if self.skip else x
