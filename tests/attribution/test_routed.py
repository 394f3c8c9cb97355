"""Input gradients routed through a layer's channels."""

import numpy as np
import pytest
import torch

from retinacodec.attribution.routed import routed_gradients
from retinacodec.errors import RetinaCodecError
from retinacodec.models.adapter import adapt
from retinacodec.targets import ClassLogit


def _gradients(model, images, layer=None, shares=None):
    with torch.no_grad():
        reducer = ClassLogit(1).bind(model, model(images))
    return routed_gradients(
        adapt(model), images, torch.zeros_like(images[:1]), [reducer], np.ones(1), np.ones(1), 8, layer, shares
    )


def test_shares_of_every_channel_route_the_whole_gradient(smooth_convnet, images):
    total, routed = _gradients(smooth_convnet, images)
    assert routed is None
    every_channel = torch.ones(1, len(images), 1, 4, dtype=images.dtype)  # (target, input, part, channel)
    total_again, routed = _gradients(smooth_convnet, images, "2", every_channel)
    torch.testing.assert_close(total_again, total)
    assert routed is not None and routed.shape == (1, len(images), 1, *images.shape[1:])
    torch.testing.assert_close(routed[:, :, 0], total)  # every path to the output passes through layer "2"


def test_shares_without_their_layer_are_refused(smooth_convnet, images):
    shares = torch.ones(1, len(images), 1, 4, dtype=images.dtype)
    with pytest.raises(RetinaCodecError, match="shares given without the layer they route through"):
        _gradients(smooth_convnet, images, None, shares)
